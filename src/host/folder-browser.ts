// The first screen's folder browser: the sub-folders of a folder with how many images each holds,
// so a user can find a dataset without typing its path. It shows only what lies inside its places
// (the home folder, the studio's folder, folders the user opened, and any the host was given):
// every path is resolved (`..` and symbolic links) before it is checked, and a linked folder that
// leads elsewhere is left out of the listing.
import type { Dirent } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { BrowsedFolder, FolderListing } from '../shared/host-commands'
import { CIFAR_RECORD_BYTES } from '../engine/datasets/cifar'
import { PathRefused, type AllowedFolders } from './allowed'
import { expandHome } from './home-path'

/** What the scan reads, by name; enough to count (the scan itself checks each file's content). */
const IMAGE_NAME = /\.(jpe?g|png|gif|webp|tiff?|avif|heic|heif|bmp)$/i
const CIFAR_BATCH = /^(data_batch_\d+|test_batch)\.bin$/i
const TRAIN_FOLDER = /^(train|training)$/i
/** Levels below a listed folder that are counted: dataset/train/class/image is three. */
const COUNT_DEPTH = 3
/** Entries read to count one folder's images, and for one whole listing: a huge tree stays quick. */
const COUNT_BUDGET = 20_000
const LISTING_BUDGET = 100_000

export interface Place {
  label: string
  dir: string
}

export class FolderBrowser {
  constructor(
    private readonly places: Place[],
    private readonly opened: AllowedFolders,
    private readonly home: string
  ) {}

  /** The places that exist, by real path, and every folder opened so far. */
  async roots(): Promise<Place[]> {
    const all = [...this.places, ...this.opened.list().map((dir) => ({ label: path.basename(dir) || dir, dir }))]
    const out: Place[] = []
    for (const place of all) {
      const real = await fs.realpath(place.dir).catch(() => null)
      if (real && !out.some((p) => p.dir === real)) out.push({ label: place.label, dir: real })
    }
    return out
  }

  async list(requested?: string): Promise<FolderListing> {
    const roots = await this.roots()
    const typed = expandHome(requested ?? '~', this.home)
    const real = await fs.realpath(path.resolve(typed)).catch(() => {
      throw new PathRefused(`Folder not found: ${typed}`)
    })
    if (!(await fs.stat(real)).isDirectory()) throw new PathRefused(`Not a folder: ${typed}`)
    if (!within(real, roots)) {
      throw new PathRefused(`Refused: ${typed} is outside the folders you may browse (${roots.map((r) => r.dir).join(', ')})`)
    }
    const entries = await fs.readdir(real, { withFileTypes: true })
    const budget = { left: LISTING_BUDGET }
    const folders: BrowsedFolder[] = []
    let hidden = 0
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))) {
      if (entry.name.startsWith('.')) continue
      const child = path.join(real, entry.name)
      if (!(await isFolder(entry, child))) continue
      const childReal = await fs.realpath(child).catch(() => null)
      if (!childReal || !within(childReal, roots)) {
        hidden++
        continue
      }
      folders.push({ name: entry.name, dir: childReal, ...(await countImages(childReal, budget)) })
    }
    const here = await describeFolder(real, entries)
    const parent = path.dirname(real)
    return {
      dir: real,
      parent: parent !== real && within(parent, roots) ? parent : null,
      places: roots,
      folders,
      images: here.images,
      dataset: here.dataset || (await countImages(real, { left: COUNT_BUDGET })).dataset,
      hidden
    }
  }
}

function within(real: string, roots: Place[]): boolean {
  return roots.some((root) => real === root.dir || real.startsWith(root.dir.endsWith(path.sep) ? root.dir : root.dir + path.sep))
}

async function isFolder(entry: Dirent, full: string): Promise<boolean> {
  if (entry.isDirectory()) return true
  if (!entry.isSymbolicLink()) return false
  return (await fs.stat(full).catch(() => null))?.isDirectory() ?? false
}

/** Images directly in a folder (CIFAR-10 batches count their records), and whether it holds batches. */
async function describeFolder(dir: string, entries: Dirent[]): Promise<{ images: number; dataset: boolean }> {
  let images = 0
  let cifar = false
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue
    if (CIFAR_BATCH.test(entry.name)) {
      const size = (await fs.stat(path.join(dir, entry.name)).catch(() => null))?.size ?? 0
      images += Math.floor(size / CIFAR_RECORD_BYTES)
      cifar = true
    } else if (IMAGE_NAME.test(entry.name) && (entry.isFile() || entry.isSymbolicLink())) {
      images++
    }
  }
  return { images, dataset: cifar }
}

/**
 * Images in `dir` and up to COUNT_DEPTH levels below (linked folders are not followed, as the scan
 * does not follow them), and whether it looks like a dataset: two or more class folders holding
 * images, a train folder of such, or CIFAR-10 batches.
 */
async function countImages(dir: string, budget: { left: number }): Promise<{ images: number; more: boolean; dataset: boolean }> {
  let images = 0
  let more = false
  let classFolders = 0
  let trainSplit = false
  let cifar = false
  const pending: { dir: string; depth: number; parent: string | null }[] = [{ dir, depth: 0, parent: null }]
  let own = COUNT_BUDGET
  while (pending.length > 0) {
    const current = pending.shift()!
    let entries: Dirent[]
    try {
      entries = await fs.readdir(current.dir, { withFileTypes: true })
    } catch {
      continue
    }
    if (entries.length > Math.min(own, budget.left)) {
      more = true
      entries = entries.slice(0, Math.max(0, Math.min(own, budget.left)))
    }
    own -= entries.length
    budget.left -= entries.length
    const here = await describeFolder(current.dir, entries)
    images += here.images
    if (current.depth === 0 && here.dataset) cifar = true
    if (current.depth === 1 && here.images > 0) classFolders++
    if (current.depth === 2 && here.images > 0 && current.parent && TRAIN_FOLDER.test(path.basename(current.parent))) trainSplit = true
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue
      if (current.depth + 1 > COUNT_DEPTH) {
        more = true
        continue
      }
      pending.push({ dir: path.join(current.dir, entry.name), depth: current.depth + 1, parent: current.dir })
    }
    if (own <= 0 || budget.left <= 0) {
      more ||= pending.length > 0
      break
    }
  }
  return { images, more, dataset: cifar || classFolders >= 2 || trainSplit }
}
