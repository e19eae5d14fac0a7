import { beforeAll, describe, expect, it } from 'vitest'
import { loadBackbone } from '../../../src/engine/backbones/load'
import { BACKBONES, backboneSpec } from '../../../src/engine/backbones/registry'
import { tempDir, weightsMirror } from '../../helpers'

let options: { home: string; mirror: string }
beforeAll(() => {
  options = { home: tempDir(), mirror: weightsMirror() }
})

describe('backbone registry', () => {
  it('lists the nine backbones with Keras preprocessing modes', () => {
    expect(BACKBONES.map((b) => [b.id, b.preprocess, b.inputSize])).toEqual([
      ['mobilenet_v1_0.25_224', 'tf', 224],
      ['mobilenet_v1_0.50_224', 'tf', 224],
      ['mobilenet_v1_0.75_224', 'tf', 224],
      ['mobilenet_v1_1.0_224', 'tf', 224],
      ['resnet50', 'caffe', 224],
      ['densenet121', 'torch', 224],
      ['densenet201', 'torch', 224],
      ['vgg16', 'caffe', 224],
      ['mobilenet_v2_1.0_224', 'tf', 224]
    ])
    expect(backboneSpec('mobilenet_v1_1.0_224').url).toBe('https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_1.0_224/model.json')
    expect(() => backboneSpec('vgg99')).toThrow('Unknown backbone "vgg99". Known backbones: mobilenet_v1_0.25_224,')
  })

  for (const [id, featureShape] of [
    ['mobilenet_v1_0.25_224', [null, 7, 7, 256]],
    ['mobilenet_v1_0.75_224', [null, 7, 7, 768]],
    ['resnet50', [null, 7, 7, 2048]]
  ] as const) {
    it(`${id}: parameter count, feature layer and Keras layer names match the real files`, async () => {
      const { spec, model } = await loadBackbone(id, options)
      expect(model.countParams()).toBe(spec.parameters)
      expect(model.getLayer(spec.featureLayer).outputShape).toEqual(featureShape)
      expect(model.inputs[0].shape).toEqual([null, spec.inputSize, spec.inputSize, 3])
      model.dispose()
    })
  }
})
