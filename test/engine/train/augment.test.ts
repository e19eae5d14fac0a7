import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { Augmentation } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import { augmentBatch, isAugmenting, transformFor } from '../../../src/engine/train/augment'
import { seededRandom } from '../../../src/engine/util/random'

beforeAll(initBackend)

// A 4x4 image whose red channel counts 0..15 across rows.
const image = () => tf.tensor4d(Array.from({ length: 16 }, (_, i) => [i * 10, 0, 0]).flat(), [1, 4, 4, 3])
const red = async (t: tf.Tensor) => Array.from(await t.slice([0, 0, 0, 0], [1, 4, 4, 1]).data())

describe('augmentation', () => {
  it('does nothing with every strength at zero', async () => {
    const none = Augmentation.parse({})
    expect(isAugmenting(none)).toBe(false)
    expect(transformFor(none, 4, seededRandom(1)).map((v) => v + 0)).toEqual([1, 0, 0, 0, 1, 0, 0, 0])
    expect(await red(augmentBatch(image(), none, seededRandom(1)))).toEqual(await red(image()))
  })

  it('mirrors rows on a horizontal flip', async () => {
    const flip = Augmentation.parse({ flipHorizontal: true })
    // Whether one draw flips depends on the seed; either way the result is exact, not blurred.
    const out = await red(augmentBatch(image(), flip, seededRandom(3)))
    const original = await red(image())
    const mirrored = [0, 1, 2, 3].flatMap((row) => original.slice(row * 4, row * 4 + 4).reverse())
    expect([original, mirrored]).toContainEqual(out)
    // Over many draws both outcomes occur, about equally often.
    const flips = Array.from({ length: 200 }, (_, i) => transformFor(flip, 4, seededRandom(i))[0] < 0).filter(Boolean).length
    expect(flips).toBeGreaterThan(70)
    expect(flips).toBeLessThan(130)
  })

  it('keeps brightness changes within the pixel range and the seed decides everything', async () => {
    const strong = Augmentation.parse({ rotate: 30, zoom: 0.2, shear: 10, brightness: 0.5 })
    const a = await augmentBatch(image(), strong, seededRandom(9)).data()
    const b = await augmentBatch(image(), strong, seededRandom(9)).data()
    expect(Array.from(a)).toEqual(Array.from(b))
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...a)).toBeLessThanOrEqual(255)
  })
})
