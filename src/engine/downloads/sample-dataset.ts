// "Try a sample dataset": the PyTorch transfer-learning tutorial's ants and bees (hymenoptera),
// downloaded from its official URL through the same download code as the weights (so the
// weights mirror, TRANSFER_STUDIO_WEIGHTS, stands in for it offline and in tests), unpacked
// into the studio home, and opened from there like any folder.
import fs from 'node:fs/promises'
import path from 'node:path'
import type { DownloadProgress } from '../../shared/protocol'
import { mirroredUrl } from '../backbones/keras-download'
import { environment } from '../environment'
import { studioHome } from '../home'
import { readZipEntries } from '../keras/zip'
import { readRegularFile } from '../util/safe-read'
import { downloadFile } from './download-file'

export interface SampleDataset {
  id: string
  base: string
  /** Under `base`, and under a mirror in the same place. */
  path: string
  /** The folder the archive holds, and the one it becomes under `<home>/samples/`. */
  folder: string
  label: string
}

export const SAMPLE_DATASETS = {
  hymenoptera: {
    id: 'hymenoptera',
    base: 'https://download.pytorch.org/',
    path: 'tutorial/hymenoptera_data.zip',
    folder: 'hymenoptera_data',
    label: 'the sample dataset (ants and bees)'
  }
} satisfies Record<string, SampleDataset>

export type SampleId = keyof typeof SAMPLE_DATASETS

/** The archive is 47 MB; anything unpacking to far more is not it. */
const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
const MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
/** Written last: a folder without it is a broken unpack, removed and done again. */
const COMPLETE_MARK = '.transfer-studio-sample.json'

export function samplesDir(home = studioHome()): string {
  return path.join(home, 'samples')
}

export function sampleUrl(sample: SampleDataset, mirror = environment.weightsMirror()): string {
  return mirroredUrl(sample.base, sample.path, mirror)
}

export interface SampleOptions {
  home?: string
  mirror?: string
  onProgress?: (progress: DownloadProgress) => void
  onNotice?: (message: string) => void
}

/** The sample's folder in the studio home, downloading and unpacking it first when it is not there. */
export async function ensureSampleDataset(id: SampleId, options: SampleOptions = {}): Promise<{ dir: string; downloaded: boolean }> {
  const sample: SampleDataset = SAMPLE_DATASETS[id]
  const home = options.home ?? studioHome()
  const root = samplesDir(home)
  const dir = path.join(root, sample.folder)
  if (await fs.stat(path.join(dir, COMPLETE_MARK)).catch(() => null)) return { dir, downloaded: false }
  const url = sampleUrl(sample, options.mirror ?? environment.weightsMirror())
  const zip = await downloadFile(
    {
      url,
      dest: path.join(root, path.basename(sample.path)),
      // The tutorial publishes no size or checksum; each entry's size is checked as it is unpacked.
      bytes: null,
      md5: null,
      id: sample.id,
      label: sample.label,
      what: sample.label,
      offlineHint: `Without internet access, put ${sample.path} under a folder and set TRANSFER_STUDIO_WEIGHTS=<folder>.`
    },
    { onProgress: options.onProgress }
  )
  options.onNotice?.(`Unpacking ${path.basename(zip)} into ${root}`)
  await unpackSample(zip, sample, dir)
  // Ours: downloaded here and unpacked; the folder is what stays.
  await fs.rm(zip, { force: true })
  return { dir, downloaded: true }
}

/** Unpacks into a staging folder beside `dir` and renames it into place, so `dir` is whole or absent. */
async function unpackSample(zip: string, sample: SampleDataset, dir: string): Promise<void> {
  const bytes = await readRegularFile(zip, { maxBytes: MAX_ARCHIVE_BYTES })
  const entries = readZipEntries(bytes, zip, { maxTotalBytes: MAX_UNPACKED_BYTES })
  const staging = `${dir}.unpacking-${process.pid}`
  await fs.rm(staging, { recursive: true, force: true })
  try {
    let written = 0
    for (const [name, contents] of entries) {
      const parts = entryParts(name, zip)
      if (!parts) continue
      const target = path.join(staging, ...parts)
      if (name.endsWith('/')) {
        await fs.mkdir(target, { recursive: true })
        continue
      }
      await fs.mkdir(path.dirname(target), { recursive: true })
      await fs.writeFile(target, contents, { flag: 'wx' })
      written++
    }
    if (written === 0) throw new Error(`${zip} holds no files`)
    // The archive holds one folder (hymenoptera_data/train, …/val): that folder is the dataset.
    const top = (await fs.readdir(staging, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'))
    const inner = top.length === 1 && top[0].isDirectory() ? path.join(staging, top[0].name) : staging
    await fs.writeFile(path.join(inner, COMPLETE_MARK), JSON.stringify({ sample: sample.id, source: sample.base + sample.path, files: written }))
    // A half-unpacked folder from an earlier attempt (no mark) is ours to replace.
    await fs.rm(dir, { recursive: true, force: true })
    await fs.rename(inner, dir)
  } finally {
    await fs.rm(staging, { recursive: true, force: true })
  }
}

/**
 * The path parts an entry unpacks to, or null for what is skipped (macOS resource forks and
 * .DS_Store). A name that would leave the folder (absolute, `..`, a drive, a backslash) refuses
 * the whole archive: it was not made by anyone meaning well.
 */
export function entryParts(name: string, source: string): string[] | null {
  const parts = name.split('/').filter((p, i, all) => !(p === '' && i === all.length - 1))
  if (parts.length === 0 || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || p.includes(':') || p.includes('\0'))) {
    throw new Error(`${source}: the entry "${name}" would be unpacked outside its folder; the archive was refused`)
  }
  if (parts[0] === '__MACOSX' || parts.some((p) => p === '.DS_Store' || p.startsWith('._'))) return null
  return parts
}
