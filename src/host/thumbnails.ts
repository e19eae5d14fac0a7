// Small previews for the dataset grid, made once per image and kept in the studio's cache.
// Only a regular file is read: a FIFO or device put where an image was would otherwise block one
// of libuv's four pool threads for good (and every later thumbnail behind it).
import { createHash } from 'node:crypto'
import { constants, type Stats } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import { writeFileAtomic } from '../engine/util/atomic'
import type { AllowedFolders } from './allowed'

export const THUMBNAIL_SIZES = [96, 160, 256] as const

/** Larger files are refused rather than read into memory for a preview. */
export const MAX_THUMBNAIL_SOURCE_BYTES = 128 * 1024 * 1024
/** Reading and decoding one image for a preview takes far less; past this it is given up. */
export const THUMBNAIL_TIMEOUT_MS = 15_000

export class ThumbnailRefused extends Error {
  override name = 'ThumbnailRefused'
}

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
  const file = await folders.check(requested)
  const size = THUMBNAIL_SIZES.find((s) => s >= wanted) ?? THUMBNAIL_SIZES.at(-1)!
  return thumbnail(file, size, path.join(home, 'cache', 'thumbnails'))
}
