// Thumbnails read only regular files of a sane size: anything else is refused before a byte is read.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { MAX_THUMBNAIL_SOURCE_BYTES, thumbnail } from '../../src/host/thumbnails'
import { ODD, tempDir } from '../helpers'

describe('thumbnail sources', () => {
  const dir = tempDir('ts-thumbs-')
  const cache = path.join(dir, 'cache')

  it('makes a JPEG preview of a real image, and the second time from the cache', async () => {
    const image = path.join(dir, 'formica.jpeg')
    fs.copyFileSync(path.join(ODD, 'hymenoptera_formica.jpeg'), image)
    const first = await thumbnail(image, 96, cache)
    expect([...first.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff])
    expect(await thumbnail(image, 96, cache)).toEqual(first)
  })

  it('refuses a FIFO, a device, a symbolic link and an oversized file without reading them', async () => {
    const fifo = path.join(dir, 'fifo.jpg')
    execFileSync('mkfifo', [fifo])
    await expect(thumbnail(fifo, 96, cache)).rejects.toThrow(`Refused ${fifo}: not a regular file`)
    await expect(thumbnail('/dev/zero', 96, cache)).rejects.toThrow('Refused /dev/zero: not a regular file')
    const link = path.join(dir, 'link.jpg')
    fs.symlinkSync(path.join(ODD, 'hymenoptera_formica.jpeg'), link)
    await expect(thumbnail(link, 96, cache)).rejects.toThrow(`Cannot open ${link}: it is a symbolic link`)
    // Sparse: no disk space used, but its size says what reading it would cost.
    const huge = path.join(dir, 'huge.jpg')
    fs.writeFileSync(huge, '')
    fs.truncateSync(huge, MAX_THUMBNAIL_SOURCE_BYTES + 1024 * 1024)
    await expect(thumbnail(huge, 96, cache)).rejects.toThrow(/^Refused .*huge\.jpg: 129\.0 MiB, more than the 128 MiB a preview reads$/)
  })
})
