import fs from 'node:fs'
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { decodeImage, ImageDecodeError } from '../../../src/engine/images/decode'
import { ODD, tempDir } from '../../helpers'

const odd = (name: string) => path.join(ODD, name)

describe('decodeImage on ../shared/data/odd-files', () => {
  it('applies EXIF orientation 8 (the stored 852x480 picture is shown upright as 480x852)', async () => {
    const meta = await sharp(odd('weather_cloudy125_exif-orientation-8.jpg')).metadata()
    expect([meta.width, meta.height, meta.orientation]).toEqual([852, 480, 8])
    const image = await decodeImage(odd('weather_cloudy125_exif-orientation-8.jpg'), null)
    expect([image.width, image.height]).toEqual([480, 852])
    // Orientation 8 turns the stored picture 90 degrees anticlockwise: the stored top-right corner
    // becomes the shown top-left corner.
    const stored = await sharp(odd('weather_cloudy125_exif-orientation-8.jpg')).removeAlpha().raw().toBuffer()
    const storedTopRight = stored.subarray((852 - 1) * 3, 852 * 3)
    expect(Array.from(image.data.subarray(0, 3))).toEqual(Array.from(storedTopRight))
  })

  it('drops alpha from an RGBA PNG named .jpg, keeping the colour under it', async () => {
    const file = odd('weather_shine127_rgba-png-named-jpg.jpg')
    expect((await sharp(file).metadata()).channels).toBe(4)
    const image = await decodeImage(file, null)
    const rgba = await sharp(file).raw().toBuffer()
    expect(image.data.length).toBe(284 * 177 * 3)
    expect(Array.from(image.data.subarray(0, 3))).toEqual(Array.from(rgba.subarray(0, 3)))
  })

  it('turns a grayscale JPEG into three equal channels', async () => {
    const image = await decodeImage(odd('weather_cloudy66_grayscale.jpg'), 224)
    expect(image.data.length).toBe(224 * 224 * 3)
    for (let p = 0; p < image.data.length; p += 3 * 997) {
      expect(image.data[p]).toBe(image.data[p + 1])
      expect(image.data[p]).toBe(image.data[p + 2])
    }
  })

  it('reads the first frame of an animated GIF named .jpg', async () => {
    const file = odd('weather_rain141_animated-gif-named-jpg.jpg')
    expect((await sharp(file).metadata()).pages).toBeGreaterThan(1)
    const image = await decodeImage(file, null)
    const firstFrame = await sharp(file, { pages: 1 }).removeAlpha().toColourspace('srgb').raw().toBuffer()
    expect([image.width, image.height]).toEqual([384, 288])
    expect(Buffer.from(image.data).equals(firstFrame)).toBe(true)
  })

  it('decodes palette PNGs named .jpg by content', async () => {
    const image = await decodeImage(odd('avp_alien18_palette-png-named-jpg.jpg'), 224)
    expect([image.width, image.height, image.data.length]).toEqual([224, 224, 224 * 224 * 3])
  })

  it('decodes the 15-megapixel JPEG straight to the model size', async () => {
    const image = await decodeImage(odd('weather_sunrise29_15MP.jpg'), 224)
    expect([image.width, image.height]).toEqual([224, 224])
    // The pixels are real, not a blank buffer: a sunrise is far from uniform.
    const values = new Set(image.data)
    expect(values.size).toBeGreaterThan(100)
  })

  it('decodes the names with spaces and odd extensions', async () => {
    expect((await decodeImage(odd('hymenoptera_ant photos.jpg'), null)).width).toBe(343)
    expect((await decodeImage(odd('hymenoptera_formica.jpeg'), null)).width).toBe(193)
    expect((await decodeImage(odd('hymenoptera_imageNotFound.gif'), null)).width).toBe(300)
  })

  it('refuses non-images with the file and the reason', async () => {
    await expect(decodeImage(odd('git-lfs-pointer-named-jpg.jpg'), 224)).rejects.toThrow(
      `${odd('git-lfs-pointer-named-jpg.jpg')}: Git LFS pointer, not the image itself`
    )
    await expect(decodeImage(odd('macos.DS_Store'), 224)).rejects.toMatchObject({
      name: 'ImageDecodeError',
      reason: 'macOS Finder metadata (.DS_Store), not an image'
    })
    await expect(decodeImage(odd('no-such-file.jpg'), 224)).rejects.toMatchObject({ reason: 'file not found (was it moved or deleted?)' })
  })

  it('says a truncated JPEG is truncated', async () => {
    const whole = fs.readFileSync(odd('hymenoptera_formica.jpeg'))
    const cut = path.join(tempDir(), 'cut.jpg')
    fs.writeFileSync(cut, whole.subarray(0, whole.length / 2))
    const error = await decodeImage(cut, 224).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImageDecodeError)
    expect((error as ImageDecodeError).reason).toBe('file is truncated (incomplete image data)')
  })
})

describe('decodeImage under load', () => {
  it('names truncation even when many decodes run at once', async () => {
    // Concurrent decodes can make libvips lose its error message; the reason must survive that.
    const whole = fs.readFileSync(odd('hymenoptera_formica.jpeg'))
    const dir = tempDir()
    const files = Array.from({ length: 24 }, (_, i) => {
      const file = path.join(dir, `cut-${i}.jpg`)
      fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length * (0.3 + i / 60))))
      return file
    })
    const good = Array.from({ length: 24 }, () => odd('weather_cloudy66_grayscale.jpg'))
    const results = await Promise.allSettled([...files, ...good].map((f) => decodeImage(f, 224)))
    const reasons = results.slice(0, 24).map((r) => (r.status === 'rejected' ? (r.reason as ImageDecodeError).reason : 'decoded'))
    expect(new Set(reasons)).toEqual(new Set(['file is truncated (incomplete image data)']))
    expect(results.slice(24).every((r) => r.status === 'fulfilled')).toBe(true)
  })
})
