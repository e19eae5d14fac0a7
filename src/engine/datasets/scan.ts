// Finds the labelled images in a folder, as Keras' flow_from_directory would (one sub-folder per
// class, classes sorted by name), also when the folder holds train / val / test splits, or
// CIFAR-10 binary batches. Only the first bytes of each file are read: pixels are decoded when
// they are used, so a 50,000-image folder is listed in seconds.
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Dirent } from 'node:fs'
import type { DatasetReport, FileNote, ScanProgress, SkippedFile, SplitName, SplitReport } from '../../shared/protocol'
import { MAX_IMAGE_FILE_BYTES, SNIFF_BYTES, sniffImage } from '../images/sniff'
import { describeKind, readRegularFile, readRegularHead, UnsafeFileError } from '../util/safe-read'
import { mapLimit } from '../util/concurrency'
import { isCifarFolder, readCifarFolder } from './cifar'
import { DEFAULT_SEED, DEFAULT_VAL_FRACTION, splitStratified } from './split'
import type { Dataset, LabelledImage } from './types'

export interface ScanOptions {
  /** Fraction of train held out for validation when there is no validation folder. */
  valSplit?: number
  seed?: number
  onProgress?: (progress: ScanProgress) => void
}

export class DatasetError extends Error {
  override name = 'DatasetError'
}

const SPLIT_ALIASES: Record<string, SplitName> = {
  train: 'train',
  training: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
  testing: 'test'
}

/** Files read at once while sniffing: enough to hide disk latency, few enough for any ulimit. */
const OPEN_FILES = 32
const PROGRESS_EVERY = 250
const PLACEHOLDER_NAME = /image.?not.?found|placeholder|no.?image.?available/i

interface FoundFile {
  path: string
  /** The class folder it sits in. */
  className: string
}

interface SplitFiles {
  name: SplitName
  dir: string
  classDirs: string[]
  files: FoundFile[]
}

export async function loadDataset(root: string, options: ScanOptions = {}): Promise<Dataset> {
  const dir = path.resolve(root)
  const entries = await readFolder(dir)
  const progress = new ProgressCounter(options.onProgress)
  const names = entries.filter((e) => e.isFile()).map((e) => e.name)
  const dataset = isCifarFolder(names) ? await loadCifar(dir, names, options) : await loadFolders(dir, entries, options, progress)
  progress.finish(dataset.report.total)
  return dataset
}

async function readFolder(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new DatasetError(`Dataset folder not found: ${dir}`)
    if (code === 'ENOTDIR') throw new DatasetError(`${dir} is a file: choose the folder that holds the class folders`)
    if (code === 'EACCES') throw new DatasetError(`Permission denied reading the dataset folder ${dir}`)
    throw error
  }
}

async function loadCifar(dir: string, names: string[], options: ScanOptions): Promise<Dataset> {
  const cifar = await readCifarFolder(dir, names)
  const heldOut = holdOutValidation(cifar.train, undefined, options)
  const splits: Array<[SplitName, string, LabelledImage[]]> = [
    ['train', cifar.trainFiles.join(', '), heldOut.train],
    ['val', heldOut.valSource(cifar.trainFiles.join(', ')), heldOut.val],
    ['test', cifar.testFiles.join(', '), cifar.test]
  ]
  const report = buildReport(dir, 'cifar10-binary', cifar.classes, splits, cifar.skipped, cifar.notes, heldOut.validation, [])
  return { report, classes: cifar.classes, train: heldOut.train, val: heldOut.val, test: cifar.test }
}

async function loadFolders(dir: string, entries: Dirent[], options: ScanOptions, progress: ProgressCounter): Promise<Dataset> {
  const skipped: SkippedFile[] = []
  const notes: FileNote[] = []
  const splitDirs = findSplitFolders(dir, entries, skipped)
  const layout = splitDirs.has('train') ? 'splits' : 'classes'
  const found: SplitFiles[] = []
  if (layout === 'splits') {
    for (const name of ['train', 'val', 'test'] as const) {
      const splitDir = splitDirs.get(name)
      if (splitDir) found.push(await findClassFiles(name, splitDir, await readFolder(splitDir), skipped))
    }
  } else {
    found.push(await findClassFiles('train', dir, entries, skipped))
  }

  const classes = [...new Set(found.flatMap((s) => s.classDirs))].sort()
  if (classes.length === 0) {
    throw new DatasetError(
      `No class folders in ${dir}: put each class's images in a sub-folder named after the class (for example ${path.join(dir, 'cats', 'cat1.jpg')}), ` +
        'or train/ and val/ folders that each hold class folders.'
    )
  }
  const labelOf = new Map(classes.map((name, index) => [name, index]))
  const images = new Map<SplitName, LabelledImage[]>()
  for (const split of found) {
    images.set(split.name, await sniffFiles(split.files, labelOf, skipped, notes, progress))
  }

  const heldOut = holdOutValidation(images.get('train') ?? [], images.get('val'), options)
  const sourceOf = (name: SplitName): string => found.find((s) => s.name === name)?.dir ?? ''
  const splits: Array<[SplitName, string, LabelledImage[]]> = [
    ['train', sourceOf('train'), heldOut.train],
    ['val', heldOut.valSource(sourceOf('train')) || sourceOf('val'), heldOut.val]
  ]
  if (images.has('test')) splits.push(['test', sourceOf('test'), images.get('test')!])
  const duplicates = await findDuplicates(splits)
  const report = buildReport(dir, layout, classes, splits, skipped, notes, heldOut.validation, duplicates)
  if (report.total === 0) {
    const reasons = [...new Set(skipped.map((s) => s.reason))].slice(0, 3).join('; ')
    throw new DatasetError(`No usable images in ${dir}${skipped.length ? ` (${skipped.length} files skipped: ${reasons})` : ''}`)
  }
  return { report, classes, train: heldOut.train, val: heldOut.val, test: images.get('test') ?? [] }
}

function findSplitFolders(dir: string, entries: Dirent[], skipped: SkippedFile[]): Map<SplitName, string> {
  const splits = new Map<SplitName, string>()
  for (const entry of [...entries].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const split = entry.isDirectory() ? SPLIT_ALIASES[entry.name.toLowerCase()] : undefined
    if (!split) continue
    const full = path.join(dir, entry.name)
    if (splits.has(split)) {
      skipped.push({ file: full, reason: `a second ${split} folder: only ${splits.get(split)} is used` })
    } else {
      splits.set(split, full)
    }
  }
  if (splits.has('train')) {
    for (const entry of entries) {
      if (entry.isDirectory() && !SPLIT_ALIASES[entry.name.toLowerCase()] && !entry.name.startsWith('.')) {
        skipped.push({ file: path.join(dir, entry.name), reason: 'not a train, val or test folder, so not used' })
      }
    }
  }
  return splits
}

async function findClassFiles(name: SplitName, dir: string, entries: Dirent[], skipped: SkippedFile[]): Promise<SplitFiles> {
  const classDirs: string[] = []
  const files: FoundFile[] = []
  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    const kind = await entryKind(entry, full)
    if (kind === 'dir' && entry.name.startsWith('.')) {
      skipped.push({ file: full, reason: 'hidden folder, not scanned' })
    } else if (kind === 'dir') {
      classDirs.push(entry.name)
      for (const file of await walkFiles(full, skipped)) files.push({ path: file, className: entry.name })
    } else if (kind === 'file') {
      skipped.push({ file: full, reason: 'not inside a class folder, so it has no label' })
    } else {
      skipped.push({ file: full, reason: kind })
    }
  }
  return { name, dir, classDirs: classDirs.sort(), files }
}

/** 'file', 'dir', or the reason the entry is not used. */
async function entryKind(entry: Dirent, full: string): Promise<string> {
  if (entry.isFile()) return 'file'
  if (entry.isDirectory()) return 'dir'
  if (!entry.isSymbolicLink()) return `not a regular file (${await fs.lstat(full).then(describeKind, () => 'unknown kind')})`
  try {
    const target = await fs.stat(full)
    // A linked folder could lead anywhere, even back up the tree: Keras does not follow them either.
    if (target.isFile()) return 'file'
    return target.isDirectory() ? 'symbolic link to a folder: not followed' : `symbolic link to ${describeKind(target)}: not an image`
  } catch {
    return 'broken symbolic link'
  }
}

/**
 * Every file below `dir`, nested folders included (flow_from_directory walks them too), sorted.
 * Walked with a list of folders still to read, not by recursion: a tree thousands of folders deep
 * is a folder like any other.
 */
async function walkFiles(dir: string, skipped: SkippedFile[]): Promise<string[]> {
  const out: string[] = []
  const pending = [dir]
  while (pending.length > 0) {
    const current = pending.pop()!
    let entries: Dirent[]
    try {
      entries = await fs.readdir(current, { withFileTypes: true })
    } catch (error) {
      skipped.push({ file: current, reason: `folder cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` })
      continue
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name)
      const kind = await entryKind(entry, full)
      if (kind === 'file') out.push(full)
      else if (kind === 'dir' && entry.name.startsWith('.')) skipped.push({ file: full, reason: 'hidden folder, not scanned' })
      else if (kind === 'dir') pending.push(full)
      else skipped.push({ file: full, reason: kind })
    }
  }
  return out.sort()
}

async function sniffFiles(
  files: FoundFile[],
  labelOf: Map<string, number>,
  skipped: SkippedFile[],
  notes: FileNote[],
  progress: ProgressCounter
): Promise<LabelledImage[]> {
  const sniffed = await mapLimit(files, OPEN_FILES, async (found) => {
    const result = await readHead(found.path)
    progress.saw(result.kind === 'image')
    return result
  })
  const images: LabelledImage[] = []
  sniffed.forEach((result, index) => {
    const found = files[index]
    if (result.kind === 'skip') {
      skipped.push({ file: found.path, reason: result.reason })
      return
    }
    if (result.note) notes.push({ file: found.path, note: result.note })
    if (PLACEHOLDER_NAME.test(path.basename(found.path))) {
      notes.push({ file: found.path, note: `the name suggests a web placeholder picture, not a photo of ${found.className}: check that it belongs there` })
    }
    images.push({
      ref: { kind: 'file', path: found.path, size: result.size, mtimeMs: result.mtimeMs },
      label: labelOf.get(found.className)!
    })
  })
  return images
}

type HeadResult = { kind: 'image'; size: number; mtimeMs: number; note?: string } | { kind: 'skip'; reason: string }

async function readHead(file: string): Promise<HeadResult> {
  try {
    // Only a regular file is opened: a FIFO swapped in after the listing would block the scan.
    const { head, stat } = await readRegularHead(file, SNIFF_BYTES, { followLinks: true })
    const sniffed = sniffImage(file, head, stat.size)
    return sniffed.kind === 'skip' ? sniffed : { kind: 'image', size: stat.size, mtimeMs: stat.mtimeMs, note: sniffed.note }
  } catch (error) {
    if (error instanceof UnsafeFileError) return { kind: 'skip', reason: error.reason }
    const code = (error as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT' ? 'file disappeared during the scan' : code === 'EACCES' ? 'permission denied' : `cannot be read (${code ?? (error as Error).message})`
    return { kind: 'skip', reason }
  }
}

function holdOutValidation(train: LabelledImage[], val: LabelledImage[] | undefined, options: ScanOptions) {
  if (val) return { train, val, validation: { kind: 'folder' as const }, valSource: () => '' }
  const fraction = options.valSplit ?? DEFAULT_VAL_FRACTION
  const seed = options.seed ?? DEFAULT_SEED
  const split = splitStratified(train, fraction, seed)
  return {
    ...split,
    validation: { kind: 'split' as const, fraction, seed },
    valSource: (trainSource: string) => `${Math.round(fraction * 100)}% of ${trainSource}, stratified, seed ${seed}`
  }
}

function buildReport(
  root: string,
  layout: DatasetReport['layout'],
  classes: string[],
  splits: Array<[SplitName, string, LabelledImage[]]>,
  skipped: SkippedFile[],
  notes: FileNote[],
  validation: DatasetReport['validation'],
  duplicates: DatasetReport['duplicates']
): DatasetReport {
  const splitReports: SplitReport[] = splits.map(([name, source, images]) => {
    const counts = Object.fromEntries(classes.map((c) => [c, 0]))
    for (const image of images) counts[classes[image.label]]++
    return { name, source, counts, total: images.length }
  })
  const missing = splitReports.flatMap((split) => classes.filter((c) => split.counts[c] === 0 && split.total > 0).map((c) => ({ split: split.name, class: c })))
  const total = splitReports.reduce((sum, s) => sum + s.total, 0)
  return { root, layout, classes, splits: splitReports, missing, skipped, notes, duplicates, validation, total }
}

/**
 * Byte-identical images. Only files whose size another file shares are read (and hashed), so a
 * folder of distinct photos costs nothing more than its listing.
 */
async function findDuplicates(splits: Array<[SplitName, string, LabelledImage[]]>): Promise<DatasetReport['duplicates']> {
  const bySize = new Map<number, Array<{ file: string; split: SplitName }>>()
  for (const [split, , images] of splits) {
    for (const { ref } of images) {
      if (ref.kind !== 'file') continue
      const same = bySize.get(ref.size) ?? []
      same.push({ file: ref.path, split })
      bySize.set(ref.size, same)
    }
  }
  const candidates = [...bySize.values()].filter((group) => group.length > 1).flat()
  // Several reads in flight: a folder of thousands of same-sized files is read at disk speed.
  const digests = await mapLimit(candidates, OPEN_FILES, (entry) =>
    readRegularFile(entry.file, { maxBytes: MAX_IMAGE_FILE_BYTES, followLinks: true }).then(
      (data) => createHash('sha1').update(data).digest('hex'),
      () => null
    )
  )
  const byHash = new Map<string, Array<{ file: string; split: SplitName }>>()
  candidates.forEach((entry, i) => {
    const digest = digests[i]
    if (digest === null) return
    const group = byHash.get(digest)
    if (group) group.push(entry)
    else byHash.set(digest, [entry])
  })
  return [...byHash.values()]
    .filter((group) => group.length > 1)
    .map((group) => ({ files: group.map((g) => g.file), splits: [...new Set(group.map((g) => g.split))] }))
}

class ProgressCounter {
  private filesSeen = 0
  private imagesFound = 0
  constructor(private readonly report?: (progress: ScanProgress) => void) {}

  saw(isImage: boolean): void {
    this.filesSeen++
    if (isImage) this.imagesFound++
    if (this.filesSeen % PROGRESS_EVERY === 0) this.report?.({ filesSeen: this.filesSeen, imagesFound: this.imagesFound })
  }

  finish(images: number): void {
    this.report?.({ filesSeen: Math.max(this.filesSeen, images), imagesFound: Math.max(this.imagesFound, images) })
  }
}
