import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { SNIFF_BYTES, sniffImage } from '../../../src/engine/images/sniff'
import { ODD } from '../../helpers'

function sniffFile(name: string) {
  const bytes = fs.readFileSync(path.join(ODD, name))
  return sniffImage(name, bytes.subarray(0, SNIFF_BYTES), bytes.length)
}

describe('sniffImage on ../shared/data/odd-files', () => {
  it('recognises images by content, and says when the name lies', () => {
    expect(sniffFile('hymenoptera_formica.jpeg')).toEqual({ kind: 'image', format: 'jpeg' })
    expect(sniffFile('hymenoptera_ant photos.jpg')).toEqual({ kind: 'image', format: 'jpeg' })
    expect(sniffFile('hymenoptera_imageNotFound.gif')).toEqual({ kind: 'image', format: 'gif' })
    for (const [name, format] of [
      ['avp_alien18_palette-png-named-jpg.jpg', 'png'],
      ['weather_cloudy131_png-named-jpg.jpg', 'png'],
      ['weather_shine127_rgba-png-named-jpg.jpg', 'png'],
      ['weather_rain141_animated-gif-named-jpg.jpg', 'gif']
    ]) {
      const result = sniffFile(name)
      expect(result).toMatchObject({ kind: 'image', format })
      expect(result.kind === 'image' && result.note).toBe(`${format.toUpperCase()} data in a .jpg file: decoded as ${format.toUpperCase()}`)
    }
  })

  it('skips non-images with a reason a person understands', () => {
    expect(sniffFile('git-lfs-pointer-named-jpg.jpg')).toEqual({
      kind: 'skip',
      reason: 'Git LFS pointer, not the image itself: run `git lfs pull` in the repository it came from'
    })
    expect(sniffFile('macos.DS_Store')).toEqual({ kind: 'skip', reason: 'macOS Finder metadata (.DS_Store), not an image' })
    expect(sniffFile('cifar10_test_batch_python_truncated_3MiB')).toMatchObject({ kind: 'skip', reason: expect.stringContaining('Python pickle') })
  })

  it('names other common non-images and falls back to the first bytes', () => {
    const sniff = (name: string, text: string | number[]) => {
      const bytes = typeof text === 'string' ? Buffer.from(text) : Buffer.from(text)
      return sniffImage(name, bytes, bytes.length)
    }
    expect(sniff('a.jpg', [])).toEqual({ kind: 'skip', reason: 'empty file (0 bytes)' })
    expect(sniff('notes.txt', 'hello world\n')).toEqual({ kind: 'skip', reason: 'text file, not an image' })
    expect(sniff('old.bmp', 'BM6\0\0\0')).toMatchObject({ reason: expect.stringContaining('BMP') })
    expect(sniff('Thumbs.db', [0xd0, 0xcf])).toMatchObject({ reason: expect.stringContaining('Thumbs.db') })
    expect(sniff('x.jpg', [0x00, 0x01, 0xfe, 0x9a, 0x00])).toEqual({
      kind: 'skip',
      reason: 'not a recognised image format (starts with bytes 00 01 fe 9a)'
    })
  })
})
