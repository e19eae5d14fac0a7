// The Keras applications built here: Keras' parameter counts with and without the top, its layer
// counts and names, and the blocks the layer tree shows (what "freeze up to here" acts on).
import { beforeAll, describe, expect, it } from 'vitest'
import { HeadConfig } from '../../../src/shared/protocol'
import { ARCHITECTURES, type Architecture } from '../../../src/engine/backbones/applications'
import { BACKBONES, backboneSpec } from '../../../src/engine/backbones/registry'
import { initBackend } from '../../../src/engine/backend'
import { buildTransferModel } from '../../../src/engine/model/build'
import { applyFreeze } from '../../../src/engine/model/freeze'
import { summarize } from '../../../src/engine/model/summary'

beforeAll(async () => {
  await initBackend()
})

// Keras' model.summary() totals, and len(model.layers) (the input included) without the top.
const KERAS: Array<{ id: string; architecture: Architecture; notop: number; top: number; layers: number; features: number[] }> = [
  { id: 'densenet121', architecture: 'densenet121', notop: 7_037_504, top: 8_062_504, layers: 427, features: [7, 7, 1024] },
  { id: 'densenet201', architecture: 'densenet201', notop: 18_321_984, top: 20_242_984, layers: 707, features: [7, 7, 1920] },
  { id: 'vgg16', architecture: 'vgg16', notop: 14_714_688, top: 138_357_544, layers: 19, features: [7, 7, 512] },
  { id: 'mobilenet_v2_1.0_224', architecture: 'mobilenet_v2_1_0_224', notop: 2_257_984, top: 3_538_984, layers: 155, features: [7, 7, 1280] }
]

describe('Keras applications built in TensorFlow.js', () => {
  for (const k of KERAS) {
    it(`${k.id}: Keras' parameter counts and layers, with and without the top`, () => {
      const spec = backboneSpec(k.id)
      expect([spec.featureParameters, spec.parameters]).toEqual([k.notop, k.top])
      const notop = ARCHITECTURES[k.architecture](false)
      expect(notop.countParams()).toBe(k.notop)
      expect(notop.layers).toHaveLength(k.layers)
      expect(notop.layers.at(-1)!.name).toBe(spec.featureLayer)
      expect(notop.outputs[0].shape).toEqual([null, ...k.features])
      notop.dispose()
      const top = ARCHITECTURES[k.architecture](true)
      expect(top.countParams()).toBe(k.top)
      expect(top.outputs[0].shape).toEqual([null, 1000])
      expect(top.layers.map((l) => l.name)).toContain(spec.featureLayer)
      top.dispose()
    })
  }

  it('lists the four with their licences, preprocessing and official files', () => {
    expect(BACKBONES.filter((b) => b.keras).map((b) => [b.id, b.preprocess, b.licence.split(' ')[0], b.downloadBytes])).toEqual([
      ['densenet121', 'torch', 'BSD-3-Clause', 29_084_464],
      ['densenet201', 'torch', 'BSD-3-Clause', 74_836_368],
      ['vgg16', 'caffe', 'CC', 58_889_256],
      ['mobilenet_v2_1.0_224', 'tf', 'Apache-2.0', 9_406_464]
    ])
    expect(backboneSpec('vgg16').licence).toMatch(/^CC BY 4\.0/)
    expect(backboneSpec('densenet121').url).toBe(
      'https://storage.googleapis.com/tensorflow/keras-applications/densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5'
    )
  })

  function blocks(id: string): Array<[string, string[]]> {
    const spec = backboneSpec(id)
    const model = ARCHITECTURES[spec.keras!.architecture](false)
    const tm = buildTransferModel({ spec, model }, { classes: ['a', 'b'], head: HeadConfig.parse({}), inputSize: 224, seed: 1 })
    applyFreeze(tm, { kind: 'all' })
    const summary = summarize(tm)
    tm.model.dispose()
    model.dispose()
    return summary.blocks.filter((b) => b.part === 'backbone').map((b) => [b.name, b.layers.map((l) => l.name)])
  }

  it('groups DenseNet into its stem, conv blocks, transitions and closing bn', () => {
    const dense = blocks('densenet121')
    expect(dense.map(([name]) => name)).toEqual([
      'conv1',
      ...Array.from({ length: 6 }, (_, i) => `conv2_block${i + 1}`),
      'pool2',
      ...Array.from({ length: 12 }, (_, i) => `conv3_block${i + 1}`),
      'pool3',
      ...Array.from({ length: 24 }, (_, i) => `conv4_block${i + 1}`),
      'pool4',
      ...Array.from({ length: 16 }, (_, i) => `conv5_block${i + 1}`),
      'bn'
    ])
    expect(dense[0][1]).toEqual(['zero_padding2d', 'conv1/conv', 'conv1/bn', 'conv1/relu', 'zero_padding2d_1', 'pool1'])
    expect(Object.fromEntries(dense)['pool3']).toEqual(['pool3_bn', 'pool3_relu', 'pool3_conv', 'pool3_pool'])
    expect(Object.fromEntries(dense)['conv5_block1']).toEqual([
      'conv5_block1_0_bn',
      'conv5_block1_0_relu',
      'conv5_block1_1_conv',
      'conv5_block1_1_bn',
      'conv5_block1_1_relu',
      'conv5_block1_2_conv',
      'conv5_block1_concat'
    ])
    // The seeds' `layers[149:]` trainable: everything up to conv4_block2_0_bn (Keras' layers[148]) frozen.
    expect(dense.flatMap(([, layers]) => layers)[147]).toBe('conv4_block2_0_bn')
  })

  it('groups VGG16 into its five blocks and MobileNetV2 into its inverted-residual blocks', () => {
    const vgg = blocks('vgg16')
    expect(vgg.map(([name, layers]) => [name, layers.length])).toEqual([
      ['block1', 3],
      ['block2', 3],
      ['block3', 4],
      ['block4', 4],
      ['block5', 4]
    ])
    const mobile = blocks('mobilenet_v2_1.0_224')
    expect(mobile.map(([name]) => name)).toEqual(['Conv1', 'expanded_conv', ...Array.from({ length: 16 }, (_, i) => `block_${i + 1}`), 'Conv_1'])
    expect(Object.fromEntries(mobile)['block_2']).toEqual([
      'block_2_expand',
      'block_2_expand_BN',
      'block_2_expand_relu',
      'block_2_depthwise',
      'block_2_depthwise_BN',
      'block_2_depthwise_relu',
      'block_2_project',
      'block_2_project_BN',
      'block_2_add'
    ])
    expect(Object.fromEntries(mobile)['Conv_1']).toEqual(['Conv_1', 'Conv_1_bn', 'out_relu'])
  })
})
