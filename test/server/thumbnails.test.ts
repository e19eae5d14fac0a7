// Thumbnails read only regular files of a sane size: anything else is refused before a byte is read.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { CIFAR_RECORD_BYTES } from '../../src/engine/datasets/cifar'
import { AllowedFolders, PathRefused } from '../../src/host/allowed'
import { MAX_THUMBNAIL_SOURCE_BYTES, thumbnail, thumbnailRequest } from '../../src/host/thumbnails'
import { DATA, ODD, tempDir } from '../helpers'

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

describe('thumbnails of what a scan lists', () => {
  const dir = tempDir('ts-thumbs-listed-')
  const home = path.join(dir, 'home')
  const cifarDir = path.join(DATA, 'cifar10-bin-subset')

  it('shows a CIFAR-10 record (`data_batch_1.bin#30`) with its own pixels', async () => {
    const folders = new AllowedFolders()
    await folders.open(cifarDir)
    const batch = path.join(cifarDir, 'data_batch_1.bin')
    const jpeg = await thumbnailRequest(folders, home, `${batch}#30`, 96)
    // Independent reference: the record's bytes read here, red, green and blue planes in turn.
    const record = fs.readFileSync(batch).subarray(30 * CIFAR_RECORD_BYTES, 31 * CIFAR_RECORD_BYTES)
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true })
    expect([info.width, info.height, info.channels]).toEqual([96, 96, 3])
    // Nearest-neighbour 3x: pixel (x, y) of the record fills the 3x3 block at (3x, 3y); JPEG moves it a little.
    let worst = 0
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          const expected = record[1 + c * 1024 + y * 32 + x]
          const got = data[((3 * y + 1) * 96 + 3 * x + 1) * 3 + c]
          worst = Math.max(worst, Math.abs(expected - got))
        }
      }
    }
    const meanDiff = (() => {
      let sum = 0
      for (let i = 0; i < 1024; i++)
        for (let c = 0; c < 3; c++) sum += Math.abs(record[1 + c * 1024 + i] - data[((3 * Math.floor(i / 32) + 1) * 96 + 3 * (i % 32) + 1) * 3 + c])
      return sum / 3072
    })()
    // Measured 2.2 (worst 25); with the red and blue planes swapped it is 9.7.
    expect(meanDiff).toBeLessThan(4)
    expect(worst).toBeLessThan(60)
    // Another record is another picture.
    const other = await thumbnailRequest(folders, home, `${batch}#31`, 96)
    expect(other.equals(jpeg)).toBe(false)
  })

  it('refuses a record past the end of the batch and a batch outside the opened folders', async () => {
    const folders = new AllowedFolders()
    await folders.open(cifarDir)
    const batch = path.join(cifarDir, 'data_batch_1.bin')
    const records = fs.statSync(batch).size / CIFAR_RECORD_BYTES
    await expect(thumbnailRequest(folders, home, `${batch}#${records}`, 96)).rejects.toThrow(`the file holds ${records} whole CIFAR-10 records`)
    await expect(thumbnailRequest(new AllowedFolders(), home, `${batch}#0`, 96)).rejects.toThrow(PathRefused)
  })

  it('shows a linked image whose link sits in the opened dataset, wherever its target is', async () => {
    const dataset = path.join(dir, 'linked', 'train', 'ants')
    fs.mkdirSync(dataset, { recursive: true })
    const outside = path.join(dir, 'elsewhere')
    fs.mkdirSync(outside)
    fs.copyFileSync(path.join(ODD, 'hymenoptera_formica.jpeg'), path.join(outside, 'formica.jpeg'))
    fs.symlinkSync(path.join(outside, 'formica.jpeg'), path.join(dataset, 'formica.jpeg'))
    // A link to an image inside the dataset too.
    fs.copyFileSync(path.join(ODD, 'hymenoptera_formica.jpeg'), path.join(dataset, 'real.jpeg'))
    fs.symlinkSync('real.jpeg', path.join(dataset, 'again.jpeg'))
    const folders = new AllowedFolders()
    await folders.open(path.join(dir, 'linked'))
    const viaLink = await thumbnailRequest(folders, home, path.join(dataset, 'formica.jpeg'), 96)
    expect([...viaLink.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff])
    expect(viaLink.equals(await thumbnail(path.join(outside, 'formica.jpeg'), 96, path.join(dir, 'other-cache')))).toBe(true)
    expect([...(await thumbnailRequest(folders, home, path.join(dataset, 'again.jpeg'), 96)).subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff])
  })

  it('refuses a linked folder inside the dataset, `..` out of it, and a link to what is not an image', async () => {
    const root = path.join(dir, 'guarded')
    fs.mkdirSync(path.join(root, 'train', 'bees'), { recursive: true })
    const secret = path.join(dir, 'secret')
    fs.mkdirSync(secret)
    fs.copyFileSync(path.join(ODD, 'hymenoptera_formica.jpeg'), path.join(secret, 'private.jpeg'))
    fs.writeFileSync(path.join(secret, 'notes.txt'), 'not a picture')
    // A linked folder: the scan does not follow it, and neither does a preview.
    fs.symlinkSync(secret, path.join(root, 'train', 'linked-folder'))
    fs.symlinkSync(path.join(secret, 'notes.txt'), path.join(root, 'train', 'bees', 'notes.jpg'))
    fs.symlinkSync('/dev/zero', path.join(root, 'train', 'bees', 'zero.jpg'))
    const folders = new AllowedFolders()
    await folders.open(root)
    await expect(thumbnailRequest(folders, home, path.join(root, 'train', 'linked-folder', 'private.jpeg'), 96)).rejects.toThrow(PathRefused)
    await expect(thumbnailRequest(folders, home, path.join(root, '..', 'secret', 'private.jpeg'), 96)).rejects.toThrow(PathRefused)
    await expect(thumbnailRequest(folders, home, path.join(root, 'train', 'bees', 'zero.jpg'), 96)).rejects.toThrow('not a regular file')
    // Decoding fails: nothing of the file's bytes comes back.
    await expect(thumbnailRequest(folders, home, path.join(root, 'train', 'bees', 'notes.jpg'), 96)).rejects.toThrow(/unsupported image format/)
  })
})
