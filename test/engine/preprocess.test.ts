import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/engine/backend'
import path from 'node:path'
import { augmentPixels } from '../../src/engine/train/augment'
import { decodeImage } from '../../src/engine/images/decode'
import { preprocess, preprocessPixels } from '../../src/engine/inference/preprocess'
import { seededRandom } from '../../src/engine/util/random'
import { PHOTOS } from '../helpers'

beforeAll(initBackend)

// One pixel, RGB = (255, 128, 0), in a [1,1,1,3] batch.
const pixel = () => tf.tensor4d([255, 128, 0], [1, 1, 1, 3])
const values = async (t: tf.Tensor) => Array.from(await t.data())

describe('Keras preprocess_input modes', () => {
  it('"tf" scales to [-1, 1]', async () => {
    const out = await values(preprocess(pixel(), 'tf'))
    expect(out[0]).toBeCloseTo(1, 6)
    expect(out[1]).toBeCloseTo(128 / 127.5 - 1, 6)
    expect(out[2]).toBeCloseTo(-1, 6)
  })

  it('"caffe" swaps RGB to BGR and subtracts the ImageNet BGR mean, without scaling', async () => {
    const out = await values(preprocess(pixel(), 'caffe'))
    expect(out[0]).toBeCloseTo(0 - 103.939, 4)
    expect(out[1]).toBeCloseTo(128 - 116.779, 4)
    expect(out[2]).toBeCloseTo(255 - 123.68, 4)
  })

  it('"torch" scales to [0, 1] and normalises with the ImageNet mean and std', async () => {
    const out = await values(preprocess(pixel(), 'torch'))
    expect(out[0]).toBeCloseTo((1 - 0.485) / 0.229, 5)
    expect(out[1]).toBeCloseTo((128 / 255 - 0.456) / 0.224, 5)
    expect(out[2]).toBeCloseTo((0 - 0.406) / 0.225, 5)
  })

  it('"unit" scales to [0, 1] and "raw" leaves 0..255 as it is (imported Keras models of one\'s own)', async () => {
    expect(await values(preprocess(pixel(), 'unit'))).toEqual([1, 128 / 255, 0].map((v) => Math.fround(v)))
    expect(await values(preprocess(pixel(), 'raw'))).toEqual([255, 128, 0])
  })
})

describe('preprocessPixels (one pass over the decoded bytes, for training batches)', () => {
  const modes = ['tf', 'caffe', 'torch', 'unit', 'raw'] as const

  it.each(modes)('gives the tensor ops\' float32 numbers bit for bit in mode "%s", on bytes and on augmented floats', async (mode) => {
    const bytes = (await decodeImage(path.join(PHOTOS, 'chelsea.png'), 64)).data
    const augment = { flipHorizontal: true, flipVertical: false, rotate: 20, zoom: 0.2, shear: 10, brightness: 0.2 }
    const floats = augmentPixels(bytes, 1, 64, augment, seededRandom(3))
    expect(floats.some((v) => !Number.isInteger(v))).toBe(true)
    for (const pixels of [bytes, floats]) {
      const reference = tf.tidy(() => preprocess(tf.tensor4d(pixels, [1, 64, 64, 3], pixels instanceof Uint8Array ? 'int32' : 'float32'), mode).dataSync())
      const mine = preprocessPixels(pixels, mode)
      expect(mine.length).toBe(reference.length)
      const differing = mine.findIndex((v, i) => !Object.is(v, reference[i]))
      expect(differing, `first differing value at ${differing}`).toBe(-1)
    }
  })
})
