// Reads CIFAR-10's official binary format: each record is one label byte followed by 3072
// pixel bytes, the red, green and blue 32x32 planes in turn. Files may hold any number of
// records (the official ones hold 10,000; subsets fewer), so the count comes from the size.
import { readRegularFile } from '../util/safe-read'
import path from 'node:path'
import type { FileNote, SkippedFile } from '../../shared/protocol'
import type { LabelledImage } from './types'

export const CIFAR_SIDE = 32
const PIXELS = CIFAR_SIDE * CIFAR_SIDE
export const CIFAR_RECORD_BYTES = 1 + 3 * PIXELS

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']

const TRAIN_FILE = /^data_batch_\d+\.bin$/i
const TEST_FILE = /^test_batch\.bin$/i
const META_FILE = 'batches.meta.txt'

export function isCifarFolder(fileNames: readonly string[]): boolean {
  return fileNames.some((name) => TRAIN_FILE.test(name) || TEST_FILE.test(name))
}

export interface CifarFolder {
  classes: string[]
  train: LabelledImage[]
  test: LabelledImage[]
  trainFiles: string[]
  testFiles: string[]
  skipped: SkippedFile[]
  notes: FileNote[]
}

export async function readCifarFolder(dir: string, fileNames: readonly string[]): Promise<CifarFolder> {
  const notes: FileNote[] = []
  const skipped: SkippedFile[] = []
  const classes = await readClassNames(dir, fileNames, notes)
  // Natural order, so data_batch_10 follows data_batch_9.
  const byNumber = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true })
  const trainFiles = fileNames.filter((n) => TRAIN_FILE.test(n)).sort(byNumber)
  const testFiles = fileNames.filter((n) => TEST_FILE.test(n)).sort(byNumber)
  const read = async (names: string[]): Promise<LabelledImage[]> => {
    const out: LabelledImage[] = []
    for (const name of names) out.push(...(await readCifarFile(path.join(dir, name), classes.length, skipped)))
    return out
  }
  return { classes, train: await read(trainFiles), test: await read(testFiles), trainFiles, testFiles, skipped, notes }
}

async function readClassNames(dir: string, fileNames: readonly string[], notes: FileNote[]): Promise<string[]> {
  const meta = path.join(dir, META_FILE)
  if (!fileNames.includes(META_FILE)) {
    notes.push({ file: meta, note: 'missing: using the standard CIFAR-10 class names' })
    return CIFAR10_CLASSES
  }
  const names = (await readRegularFile(meta, { maxBytes: 1024 * 1024, followLinks: true }))
    .toString('utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
  if (names.length === 0) throw new Error(`${meta}: no class names in it (expected one name per line)`)
  return names
}

/** Reads one batch file whole (one read) and keeps views into it, not copies. */
export async function readCifarFile(file: string, classCount: number, skipped: SkippedFile[]): Promise<LabelledImage[]> {
  // A batch file is 30 MB; a FIFO or a device in its place is refused, not read forever.
  const bytes = await readRegularFile(file, { maxBytes: 1024 * 1024 * 1024, followLinks: true })
  const records = Math.floor(bytes.length / CIFAR_RECORD_BYTES)
  const trailing = bytes.length % CIFAR_RECORD_BYTES
  if (trailing !== 0) {
    skipped.push({
      file: `${file}#${records}`,
      reason: `file is truncated: its last ${trailing} bytes are not a whole ${CIFAR_RECORD_BYTES}-byte record, so that record is ignored`
    })
  }
  const out: LabelledImage[] = []
  for (let record = 0; record < records; record++) {
    const offset = record * CIFAR_RECORD_BYTES
    const label = bytes[offset]
    if (label >= classCount) {
      skipped.push({ file: `${file}#${record}`, reason: `label ${label} is outside the ${classCount} class names` })
      continue
    }
    const planes = new Uint8Array(bytes.buffer, bytes.byteOffset + offset + 1, 3 * PIXELS)
    out.push({ ref: { kind: 'cifar', file, record, planes }, label })
  }
  return out
}

/** Channel-major planes (RRR…GGG…BBB…) to the row-major RGBRGB… layout images use. */
export function planesToRgb(planes: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(3 * PIXELS)
  for (let p = 0; p < PIXELS; p++) {
    rgb[3 * p] = planes[p]
    rgb[3 * p + 1] = planes[PIXELS + p]
    rgb[3 * p + 2] = planes[2 * PIXELS + p]
  }
  return rgb
}
