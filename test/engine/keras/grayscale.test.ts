// A grayscale Keras model (one input channel) is refused at import, naming the file and why.
// The file is written here with h5wasm in Keras 2's whole-model layout (model_config,
// model_weights with layer_names / weight_names), so the test does not lean on one real file.
import fs from 'node:fs'
import path from 'node:path'
import { File as H5File, ready } from 'h5wasm/node'
import { describe, expect, it } from 'vitest'
import { importKerasModel } from '../../../src/engine/api'
import { tempDir } from '../../helpers'

function byteStrings(target: { create_attribute: H5File['create_attribute'] }, name: string, values: string[]): void {
  target.create_attribute(name, values, [values.length], `S${Math.max(1, ...values.map((v) => v.length))}`)
}

/** A Sequential model: Conv2D(4, 3x3) on [side, side, channels] → global average pooling → Dense(3, softmax). */
async function writeSmallKerasModel(file: string, channels: number, side = 16): Promise<void> {
  await ready
  const config = {
    class_name: 'Sequential',
    config: {
      name: 'sequential',
      layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, side, side, channels], dtype: 'float32', name: 'input_1' } },
        {
          class_name: 'Conv2D',
          config: { name: 'conv2d', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', activation: 'relu', use_bias: true }
        },
        { class_name: 'GlobalAveragePooling2D', config: { name: 'gap' } },
        { class_name: 'Dense', config: { name: 'dense', units: 3, activation: 'softmax', use_bias: true } }
      ]
    }
  }
  const f = new H5File(file, 'w')
  try {
    f.create_attribute('model_config', JSON.stringify(config), null, `S${JSON.stringify(config).length}`)
    f.create_attribute('keras_version', '2.15.0', null, 'S6')
    f.create_attribute('backend', 'tensorflow', null, 'S10')
    const weights = f.create_group('model_weights')
    byteStrings(weights, 'layer_names', ['input_1', 'conv2d', 'gap', 'dense'])
    const tensors: Record<string, Array<[string, number[]]>> = {
      input_1: [],
      conv2d: [
        ['kernel:0', [3, 3, channels, 4]],
        ['bias:0', [4]]
      ],
      gap: [],
      dense: [
        ['kernel:0', [4, 3]],
        ['bias:0', [3]]
      ]
    }
    for (const [layer, list] of Object.entries(tensors)) {
      const g = weights.create_group(layer)
      if (list.length === 0) {
        g.create_attribute('weight_names', [], [0], 'S1')
        continue
      }
      byteStrings(
        g,
        'weight_names',
        list.map(([name]) => `${layer}/${name}`)
      )
      const inner = g.create_group(layer)
      for (const [name, shape] of list) {
        const size = shape.reduce((a, b) => a * b, 1)
        inner.create_dataset({ name, data: Float32Array.from({ length: size }, (_, i) => Math.sin(i + 1) * 0.1), shape, dtype: '<f' })
      }
    }
  } finally {
    f.close()
  }
}

describe('Keras import of a grayscale model', () => {
  it('refuses a 1-channel model, naming the file, its input shape and the reason', async () => {
    const file = path.join(tempDir(), 'grey_digits.h5')
    await writeSmallKerasModel(file, 1)
    const out = path.join(tempDir(), 'model')
    await expect(importKerasModel(file, out, { preprocess: 'unit' })).rejects.toThrow(
      `${file}: the model takes input of shape [null,16,16,1]; studio models take square RGB images, [null, size, size, 3]: it is a grayscale model (1 channel), and photos reach a model here as RGB`
    )
    expect(fs.existsSync(path.join(out, 'model.json'))).toBe(false)
  })

  it('imports the same model written for RGB input (the file itself is well formed)', async () => {
    const file = path.join(tempDir(), 'rgb.h5')
    await writeSmallKerasModel(file, 3)
    const out = path.join(tempDir(), 'model')
    const metadata = await importKerasModel(file, out, { preprocess: 'unit', labels: ['a', 'b', 'c'] })
    expect(metadata).toMatchObject({ inputSize: 16, labels: ['a', 'b', 'c'], source: { format: 'keras-h5', kerasVersion: '2.15.0' } })
  })
})
