import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/engine/backend'
import { preprocess } from '../../src/engine/inference/preprocess'

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
