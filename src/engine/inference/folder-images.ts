// The photos directly inside one folder, for classifying a folder in one go: each file is judged by
// its first bytes as a scan does, so what is not an image is listed with its reason, not sent on.
import fs from 'node:fs/promises'
import path from 'node:path'
import type { FolderImages } from '../../shared/protocol'
import { SNIFF_BYTES, sniffImage } from '../images/sniff'
import { readRegularHead, UnsafeFileError } from '../util/safe-read'

/** A folder of photos to classify, not a dataset: more than this is refused with the reason. */
export const MAX_FOLDER_IMAGES = 10_000

export async function listFolderImages(dir: string): Promise<FolderImages> {
  const root = path.resolve(dir)
  let entries
  try {
    entries = await fs.readdir(root, { withFileTypes: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new Error(
      code === 'ENOENT' ? `Folder not found: ${root}` : code === 'ENOTDIR' ? `${root} is not a folder` : `${root} cannot be read: ${(error as Error).message}`
    )
  }
  const names = entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => e.name)
    .sort()
  if (names.length > MAX_FOLDER_IMAGES) {
    throw new Error(`${root} holds ${names.length} files: a folder of at most ${MAX_FOLDER_IMAGES} photos can be classified at once`)
  }
  const files: string[] = []
  const skipped: FolderImages['skipped'] = []
  for (const name of names) {
    const file = path.join(root, name)
    try {
      const { head, stat } = await readRegularHead(file, SNIFF_BYTES, { followLinks: true })
      const sniffed = sniffImage(file, head, stat.size)
      if (sniffed.kind === 'image') files.push(file)
      else skipped.push({ file, reason: sniffed.reason })
    } catch (error) {
      if (!(error instanceof UnsafeFileError) && !(error as NodeJS.ErrnoException).code) throw error
      skipped.push({ file, reason: error instanceof UnsafeFileError ? error.reason : (error as Error).message })
    }
  }
  // Refused rather than answered empty: the host opens only a folder that was listed, and a folder
  // without photos has nothing to open it for.
  if (files.length === 0)
    throw new Error(`${root} has no photos directly inside it${skipped.length ? ` (${skipped.length} other ${skipped.length === 1 ? 'file' : 'files'})` : ''}`)
  return { dir: root, files, skipped }
}
