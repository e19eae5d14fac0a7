// Small previews for the dataset grid, made once per image and kept in the studio's cache.
// Only a regular file is read: a FIFO or device put where an image was would otherwise block one
// of libuv's four pool threads for good (and every later thumbnail behind it).
import { createHash } from 'node:crypto'
import { constants, type Stats } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import { writeFileAtomic } from '../engine/util/atomic'
import { PathRefused, type AllowedFolders } from './allowed'
import { ThumbnailRefused } from './thumbnail-refused'
import { cifarRecordThumbnailSource, parseCifarRecordPath } from './cifar-thumbnail'

export const THUMBNAIL_SIZES = [96, 160, 256] as const

/** Larger files are refused rather than read into memory for a preview. */
export const MAX_THUMBNAIL_SOURCE_BYTES = 128 * 1024 * 1024
/** Reading and decoding one image for a preview takes far less; past this it is given up. */
export const THUMBNAIL_TIMEOUT_MS = 15_000

export { ThumbnailRefused }

export async function thumbnail(file: string, size: number, cacheDir: string): Promise<Buffer> {
  const { handle, stat } = await openRegularFile(file)
  try {
    const key = createHash('sha1').update(`${file}\0${stat.size}\0${stat.mtimeMs}\0${size}`).digest('hex')
    const cached = path.join(cacheDir, key.slice(0, 2), `${key}.jpg`)
    const hit = await fs.readFile(cached).catch(() => null)
    if (hit) return hit
    const bytes = await handle.readFile({ signal: AbortSignal.timeout(THUMBNAIL_TIMEOUT_MS) })
    const data = await sharp(bytes, { failOn: 'none', pages: 1 })
      .timeout({ seconds: THUMBNAIL_TIMEOUT_MS / 1000 })
      .rotate()
      .resize(size, size, { fit: 'cover' })
      .jpeg({ quality: 78 })
      .toBuffer()
    await fs.mkdir(path.dirname(cached), { recursive: true })
    await writeFileAtomic(cached, data)
    return data
  } finally {
    await handle.close()
  }
}

/**
 * Opens without blocking (O_NONBLOCK: a FIFO with no writer opens at once) and without following
 * a link swapped in after the path was checked (O_NOFOLLOW), then asks the open file what it is.
 */
async function openRegularFile(file: string): Promise<{ handle: fs.FileHandle; stat: Stats }> {
  const handle = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch((error: NodeJS.ErrnoException) => {
    throw new ThumbnailRefused(`Cannot open ${file}: ${error.code === 'ELOOP' ? 'it is a symbolic link' : error.message}`)
  })
  const stat = await handle.stat().catch(async (error: Error) => {
    await handle.close()
    throw error
  })
  const refusal = !stat.isFile()
    ? 'not a regular file'
    : stat.size > MAX_THUMBNAIL_SOURCE_BYTES
      ? `${(stat.size / 2 ** 20).toFixed(1)} MiB, more than the ${MAX_THUMBNAIL_SOURCE_BYTES / 2 ** 20} MiB a preview reads`
      : null
  if (refusal) {
    await handle.close()
    throw new ThumbnailRefused(`Refused ${file}: ${refusal}`)
  }
  return { handle, stat }
}

/**
 * A thumbnail as either host asks for one: `path` must be inside a folder the user opened, and the
 * smallest cached size at least `wanted` is made. Throws PathRefused or ThumbnailRefused.
 */
export async function thumbnailRequest(folders: AllowedFolders, home: string, requested: string, wanted: number): Promise<Buffer> {
  const size = THUMBNAIL_SIZES.find((s) => s >= wanted) ?? THUMBNAIL_SIZES.at(-1)!
  const cacheDir = path.join(home, 'cache', 'thumbnails')
  // A CIFAR-10 image is a record in a batch file (`data_batch_1.bin#30`), as the scan names it.
  const record = parseCifarRecordPath(requested)
  if (record) return cifarRecordThumbnail(await folders.check(record.file), record.index, size, cacheDir)
  return thumbnail(await imageFileToRead(folders, requested), size, cacheDir)
}

/**
 * The real path of an image a client asks for. Inside an opened folder, as always; or a symbolic
 * link to a file that sits in a real folder inside an opened one. That is exactly the kind of link
 * a scan lists as an image (it follows links to files, never links to folders), so training reads
 * the file already: its preview shows nothing new. Only the last part of the path may be the link
 * (a linked folder could lead anywhere), and only a decodable image leaves, re-encoded as a JPEG.
 */
async function imageFileToRead(folders: AllowedFolders, requested: string): Promise<string> {
  try {
    return await folders.check(requested)
  } catch (error) {
    if (!(error instanceof PathRefused)) throw error
    const absolute = path.resolve(requested)
    const link = await fs.lstat(absolute).catch(() => null)
    if (!link?.isSymbolicLink()) throw error
    await folders.check(path.dirname(absolute))
    // The link's own folder is inside an opened one; the link itself is lexically inside it too.
    const real = path.join(await fs.realpath(path.dirname(absolute)), path.basename(absolute))
    const target = await fs.realpath(real).catch(() => {
      throw new ThumbnailRefused(`Cannot open ${requested}: a broken symbolic link`)
    })
    return target
  }
}

/** A preview of record `index` of a CIFAR-10 batch file (cached like any other preview). */
async function cifarRecordThumbnail(file: string, index: number, size: number, cacheDir: string): Promise<Buffer> {
  const { handle, stat } = await openRegularFile(file)
  try {
    const key = createHash('sha1').update(`${file}#${index}\0${stat.size}\0${stat.mtimeMs}\0${size}`).digest('hex')
    const cached = path.join(cacheDir, key.slice(0, 2), `${key}.jpg`)
    const hit = await fs.readFile(cached).catch(() => null)
    if (hit) return hit
    const source = await cifarRecordThumbnailSource(handle, stat.size, index, file)
    const data = await sharp(source.pixels, { raw: { width: source.side, height: source.side, channels: 3 } })
      .resize(size, size, { fit: 'cover', kernel: 'nearest' })
      .jpeg({ quality: 85 })
      .toBuffer()
    await fs.mkdir(path.dirname(cached), { recursive: true })
    await writeFileAtomic(cached, data)
    return data
  } finally {
    await handle.close()
  }
}
