import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadBackbone } from '../../src/engine/backbones/load'
import { decodeImage } from '../../src/engine/images/decode'
import { topK } from '../../src/engine/inference/classify'
import { classifyImageNet, imagenetClasses, shortName } from '../../src/engine/inference/imagenet'
import { preprocess } from '../../src/engine/inference/preprocess'
import { MODELS, ODD, PHOTOS, tempDir, weightsMirror } from '../helpers'

const CATS = ['tabby', 'tiger cat', 'Egyptian cat']
const photos = [path.join(PHOTOS, 'chelsea.png'), path.join(PHOTOS, 'coffee.png')]
let options: { home: string; mirror: string }

beforeAll(() => {
  options = { home: tempDir(), mirror: weightsMirror() }
})

describe('ImageNet classification with real weights', () => {
  it('uses the class names of ../shared/models/imagenet_classes.json, shortened as decode_predictions does', () => {
    const reference = JSON.parse(fs.readFileSync(path.join(MODELS, 'imagenet_classes.json'), 'utf8')) as string[]
    expect(imagenetClasses()).toEqual(reference)
    expect(shortName(imagenetClasses()[281])).toBe('tabby')
    expect(shortName(imagenetClasses()[504])).toBe('coffee mug')
  })

  for (const backbone of ['mobilenet_v1_0.25_224', 'mobilenet_v1_0.75_224', 'resnet50']) {
    it(`${backbone}: chelsea.png is a cat, coffee.png is espresso`, async () => {
      const [cat, coffee] = await classifyImageNet(backbone, photos, { ...options, top: 5 })
      if ('error' in cat || 'error' in coffee) throw new Error('expected predictions')
      expect(CATS).toContain(cat.predictions[0].label)
      expect(coffee.predictions[0].label).toBe('espresso')
      expect(cat.predictions).toHaveLength(5)
      const probabilities = cat.predictions.map((p) => p.probability)
      expect(probabilities).toEqual([...probabilities].sort((a, b) => b - a))
    })
  }

  it('resnet50 needs caffe preprocessing: fed MobileNet\'s "tf" scaling it gets the photos wrong', async () => {
    const { model } = await loadBackbone('resnet50', options)
    const top1 = async (file: string, mode: 'tf' | 'caffe') => {
      const image = await decodeImage(file, 224)
      const out = tf.tidy(() => model.predict(preprocess(tf.tensor4d(image.data, [1, 224, 224, 3], 'int32'), mode)) as tf.Tensor)
      const values = await out.data()
      out.dispose()
      return shortName(imagenetClasses()[topK(values, 1)[0]])
    }
    expect(CATS).toContain(await top1(photos[0], 'caffe'))
    expect(await top1(photos[1], 'caffe')).toBe('espresso')
    const wrong = [await top1(photos[0], 'tf'), await top1(photos[1], 'tf')]
    expect(CATS.includes(wrong[0]) && wrong[1] === 'espresso').toBe(false)
    model.dispose()
  })

  it('reports a file it cannot read and classifies the rest', async () => {
    const results = await classifyImageNet('mobilenet_v1_0.25_224', [path.join(ODD, 'git-lfs-pointer-named-jpg.jpg'), photos[1]], {
      ...options,
      top: 1
    })
    expect(results[0]).toEqual({
      file: path.join(ODD, 'git-lfs-pointer-named-jpg.jpg'),
      error: 'Git LFS pointer, not the image itself: run `git lfs pull` in the repository it came from'
    })
    expect(results[1]).toMatchObject({ predictions: [{ label: 'espresso' }] })
  })

  it('leaves no tensors behind', async () => {
    await classifyImageNet('mobilenet_v1_0.25_224', photos, options)
    const before = tf.memory().numTensors
    await classifyImageNet('mobilenet_v1_0.25_224', photos, options)
    expect(tf.memory().numTensors).toBe(before)
  })
})
