import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { Augmentation } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import { decodeImage } from '../../../src/engine/images/decode'
import { augmentPixels, isAugmenting, transformFor } from '../../../src/engine/train/augment'
import { seededRandom } from '../../../src/engine/util/random'
import { PHOTOS } from '../../helpers'

beforeAll(initBackend)

// A 4x4 image whose red channel counts 0..15 across rows.
const image = () => Uint8Array.from(Array.from({ length: 16 }, (_, i) => [i * 10, 0, 0]).flat())
const red = (values: ArrayLike<number>) => Array.from(values).filter((_, i) => i % 3 === 0)

describe('augmentation', () => {
  it('does nothing with every strength at zero', () => {
    const none = Augmentation.parse({})
    expect(isAugmenting(none)).toBe(false)
    expect(transformFor(none, 4, seededRandom(1)).map((v) => v + 0)).toEqual([1, 0, 0, 0, 1, 0, 0, 0])
    expect(red(augmentPixels(image(), 1, 4, none, seededRandom(1)))).toEqual(red(image()))
  })

  it('mirrors rows on a horizontal flip', () => {
    const flip = Augmentation.parse({ flipHorizontal: true })
    // Whether one draw flips depends on the seed; either way the result is exact, not blurred.
    const out = red(augmentPixels(image(), 1, 4, flip, seededRandom(3)))
    const original = red(image())
    const mirrored = [0, 1, 2, 3].flatMap((row) => original.slice(row * 4, row * 4 + 4).reverse())
    expect([original, mirrored]).toContainEqual(out)
    // Over many draws both outcomes occur, about equally often.
    const flips = Array.from({ length: 200 }, (_, i) => transformFor(flip, 4, seededRandom(i))[0] < 0).filter(Boolean).length
    expect(flips).toBeGreaterThan(70)
    expect(flips).toBeLessThan(130)
  })

  it('keeps brightness changes within the pixel range and the seed decides everything', () => {
    const strong = Augmentation.parse({ rotate: 30, zoom: 0.2, shear: 10, brightness: 0.5 })
    const a = augmentPixels(image(), 1, 4, strong, seededRandom(9))
    const b = augmentPixels(image(), 1, 4, strong, seededRandom(9))
    expect(Array.from(a)).toEqual(Array.from(b))
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...a)).toBeLessThanOrEqual(255)
  })

  it('warps a batch of real photos exactly as tf.image.transform (bilinear, nearest fill) does', async () => {
    const photos = await Promise.all(['chelsea.png', 'coffee.png'].map((f) => decodeImage(path.join(PHOTOS, f), 96)))
    const pixels = Uint8Array.from(photos.flatMap((p) => [...p.data]))
    const warp = Augmentation.parse({ flipHorizontal: true, rotate: 40, zoom: 0.3, shear: 15 })
    const ours = augmentPixels(pixels, 2, 96, warp, seededRandom(5))
    // The same draws, in the same order, for tfjs' kernel (on wasm: its cpu kernel warps only the first image).
    const random = seededRandom(5)
    const transforms = [transformFor(warp, 96, random), transformFor(warp, 96, random)]
    const theirs = tf.tidy(() => tf.image.transform(tf.tensor4d(pixels, [2, 96, 96, 3], 'float32'), tf.tensor2d(transforms), 'bilinear', 'nearest').dataSync())
    let worst = 0
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]))
    // On a 0..255 scale: float32 rounding in tfjs' kernel against float64 here.
    expect(worst).toBeLessThan(1e-2)
    // And the warp did move things: the second image differs from its input.
    expect(ours.subarray(96 * 96 * 3).some((v, i) => Math.abs(v - pixels[96 * 96 * 3 + i]) > 20)).toBe(true)
  })
})
