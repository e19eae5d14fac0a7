// Small previews for the dataset grid, made once per image and kept in the studio's cache.
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import { writeFileAtomic } from '../engine/util/atomic'

export const THUMBNAIL_SIZES = [96, 160, 256] as const

export async function thumbnail(file: string, size: number, cacheDir: string): Promise<Buffer> {
  const stat = await fs.stat(file)
  const key = createHash('sha1').update(`${file}\0${stat.size}\0${stat.mtimeMs}\0${size}`).digest('hex')
  const cached = path.join(cacheDir, key.slice(0, 2), `${key}.jpg`)
  const hit = await fs.readFile(cached).catch(() => null)
  if (hit) return hit
  const data = await sharp(file, { failOn: 'none', pages: 1 }).rotate().resize(size, size, { fit: 'cover' }).jpeg({ quality: 78 }).toBuffer()
  await fs.mkdir(path.dirname(cached), { recursive: true })
  await writeFileAtomic(cached, data)
  return data
}
