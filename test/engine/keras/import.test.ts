// Importing the real Keras files of ../shared/models/keras-h5 (see its README): every layout
// reads, and the three CIFAR-10 models, saved as studio models and scored by the studio's own
// evaluate path on the 1017-image test batch, reach the accuracy an independent NumPy forward
// pass reached (README: 88.0 %, 88.5 %, 54.1 %, from 895, 900 and 550 correct).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend'
import { CIFAR10_CLASSES } from '../../../src/engine/datasets/cifar'
import { evaluateModel } from '../../../src/engine/inference/saved-model'
import { readKerasModel } from '../../../src/engine/keras/import'
import { importKerasModel } from '../../../src/engine/keras/model-io'
import { loadModel } from '../../../src/engine/model/store'
import { loadedView, partition, prefixSpec } from '../../../src/engine/train/partition'
import { createPrefixRunner, disagreement } from '../../../src/engine/prefix/choose'
import { mainThreadRunner } from '../../../src/engine/prefix/main-thread'
import { DATA, MODELS, tempDir } from '../../helpers'

const KERAS = path.join(MODELS, 'keras-h5')
const CIFAR = path.join(DATA, 'cifar10-bin-subset')
const file = (name: string): string => path.join(KERAS, name)

beforeAll(initBackend)

/** The README's test image: 28x28 zeros with a white vertical bar (rows 4–23, columns 12–15). */
function bar(): tf.Tensor4D {
  const values = new Float32Array(28 * 28)
  for (let row = 4; row <= 23; row++) for (let col = 12; col <= 15; col++) values[row * 28 + col] = 1
  return tf.tensor4d(values, [1, 28, 28, 1])
}

describe('reading Keras files', () => {
  it.each([
    ['mnist_cnn_keras2.3.1_sequential.h5', 'keras-h5', '2.3.1', 93_322],
    ['mnist_cnn_keras3.12.0_legacy.h5', 'keras3-legacy-h5', '3.12.0', 225_034],
    ['mnist_cnn_keras3.12.0.keras', 'keras3-zip', '3.12.0', 225_034]
  ])('%s (%s, Keras %s): a digit classifier that calls the bar a 1', async (name, format, version, parameters) => {
    const imported = await readKerasModel(file(name))
    expect(imported.format).toBe(format)
    expect(imported.kerasVersion).toBe(version)
    expect(imported.model.countParams()).toBe(parameters)
    const probabilities = Array.from((imported.model.predict(bar()) as tf.Tensor).dataSync())
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5)
    expect(probabilities.indexOf(Math.max(...probabilities))).toBe(1)
    expect(probabilities[1]).toBeGreaterThan(0.9999)
    imported.model.dispose()
  })

  it('the .keras zip and the legacy .h5 of the same network give identical outputs', async () => {
    const zip = await readKerasModel(file('mnist_cnn_keras3.12.0.keras'))
    const legacy = await readKerasModel(file('mnist_cnn_keras3.12.0_legacy.h5'))
    const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 3)
    const a = (zip.model.predict(x) as tf.Tensor).dataSync()
    const b = (legacy.model.predict(x) as tf.Tensor).dataSync()
    expect(Array.from(a)).toEqual(Array.from(b))
    zip.model.dispose()
    legacy.model.dispose()
  })

  it('a functional MobileNet with DepthwiseConv2D reads with all its weights', async () => {
    const { model } = await readKerasModel(file('vww_96_mobilenet_keras2.4.0_functional.h5'))
    expect(model.layers).toHaveLength(85)
    expect(model.layers.filter((l) => l.getClassName() === 'DepthwiseConv2D')).toHaveLength(13)
    expect(model.outputs[0].shape).toEqual([null, 2])
    model.dispose()
  })

  it('a weights-only file needs its architecture, and says so', async () => {
    await expect(readKerasModel(file('cifar10_bn_keras2.8.0_weights_only.h5'))).rejects.toThrow(
      /cifar10_bn_keras2\.8\.0_weights_only\.h5: holds weights only \(model\.save_weights\); give the model\.to_json\(\) file/
    )
  })
})

describe('imported CIFAR-10 models scored by evaluate', () => {
  it.each([
    ['resnet8_cifar10_keras2.4.0_functional.h5', undefined, 'raw', 0.88, 895],
    ['cifar10_bn_keras2.8.0_weights_only.h5', 'cifar10_bn_keras2.8.0_weights_only.model.json', 'unit', 0.885, 900],
    ['cifar10_bn_keras2.15.0_sequential.h5', undefined, 'unit', 0.541, 550]
  ] as const)('%s reaches the independent forward pass accuracy', async (name, architecture, preprocess, accuracy, correct) => {
    const out = path.join(tempDir(), 'model')
    const metadata = await importKerasModel(file(name), out, {
      preprocess,
      labels: CIFAR10_CLASSES,
      architecture: architecture && file(architecture)
    })
    expect(metadata.preprocess).toBe(preprocess)
    expect(metadata.inputSize).toBe(32)
    expect(metadata.source?.kind).toBe('keras')
    expect(JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).preprocess).toBe(preprocess)
    const report = await evaluateModel(out, CIFAR)
    const total = report.confusion.flat().reduce((a, b) => a + b, 0)
    expect(total).toBe(1017)
    expect(Math.round(report.accuracy * total)).toBe(correct)
    expect(Number((report.accuracy * 100).toFixed(1))).toBe(accuracy * 100)
  })
})

describe('refusals', () => {
  it('an MNIST model cannot become a studio model: it does not take RGB images', async () => {
    await expect(importKerasModel(file('mnist_cnn_keras2.3.1_sequential.h5'), path.join(tempDir(), 'm'), { preprocess: 'unit' })).rejects.toThrow(
      /mnist_cnn_keras2\.3\.1_sequential\.h5: the model takes input of shape \[null,28,28,1\]; studio models take square RGB images/
    )
  })

  it('a folder holding anything but a studio model is not replaced', async () => {
    const folder = tempDir()
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'mine')
    await expect(importKerasModel(file('resnet8_cifar10_keras2.4.0_functional.h5'), folder, { preprocess: 'raw' })).rejects.toThrow(
      `${folder} already holds files and is not a Transfer Studio model folder: choose a new or empty folder`
    )
    expect(fs.readdirSync(folder)).toEqual(['notes.txt'])
  })

  it('a layer TensorFlow.js lacks is named with its class', async () => {
    const dir = tempDir()
    const json = JSON.parse(fs.readFileSync(file('cifar10_bn_keras2.8.0_weights_only.model.json'), 'utf8'))
    json.config.layers[3].class_name = 'RandomFlip'
    const architecture = path.join(dir, 'model.json')
    fs.writeFileSync(architecture, JSON.stringify(json))
    const name = json.config.layers[3].config.name
    await expect(readKerasModel(file('cifar10_bn_keras2.8.0_weights_only.h5'), { architecture })).rejects.toThrow(
      `${architecture}: layer "${name}" is a RandomFlip, which Transfer Studio cannot import`
    )
  })

  it('a file that is not HDF5, and a missing one, are named with the reason', async () => {
    const notH5 = path.join(tempDir(), 'model.h5')
    fs.writeFileSync(notH5, 'not a model')
    await expect(readKerasModel(notH5)).rejects.toThrow(`${notH5}: not an HDF5 file`)
    await expect(readKerasModel('/nonexistent/model.h5')).rejects.toThrow('/nonexistent/model.h5: no such file')
  })

  it('the model loads back from its folder with the scaling kept', async () => {
    const out = path.join(tempDir(), 'model')
    await importKerasModel(file('resnet8_cifar10_keras2.4.0_functional.h5'), out, { preprocess: 'raw', labels: CIFAR10_CLASSES })
    const { model, metadata } = await loadModel(out)
    expect(metadata.preprocess).toBe('raw')
    expect(metadata.labels).toEqual(CIFAR10_CLASSES)
    expect(metadata.training).toBeNull()
    model.dispose()
  })
})

describe('damaged weights', () => {
  /** A copy of the ResNet-8 file changed by `edit`, a Python statement on the h5py group `w` (model_weights). */
  function damaged(edit: string): string {
    const copy = path.join(tempDir(), 'resnet8.h5')
    fs.copyFileSync(file('resnet8_cifar10_keras2.4.0_functional.h5'), copy)
    const result = spawnSync(
      '/usr/bin/python3',
      ['-c', `import h5py, numpy as np\nwith h5py.File(${JSON.stringify(copy)}, 'a') as f:\n    w = f['model_weights']\n    ${edit}`],
      { encoding: 'utf8' }
    )
    if (result.status !== 0) throw new Error(result.stderr)
    return copy
  }

  it('a tensor of the wrong shape is named with both shapes', async () => {
    const copy = damaged("del w['dense/dense/kernel:0']; w['dense/dense'].create_dataset('kernel:0', data=np.zeros((32, 10), 'float32'))")
    await expect(readKerasModel(copy)).rejects.toThrow(`${copy}: weight "dense/kernel:0" of layer "dense" (Dense) has shape [32,10], the layer expects [64,10]`)
  })

  it('a missing tensor, and a layer without its weights, are named', async () => {
    const gone = damaged("del w['conv2d_1/conv2d_1/bias:0']")
    await expect(readKerasModel(gone)).rejects.toThrow(`${gone}: weight "conv2d_1/bias:0" of layer "conv2d_1" is missing`)
    const unlisted = damaged("w.attrs['layer_names'] = [n for n in w.attrs['layer_names'] if n != b'batch_normalization_3']")
    await expect(readKerasModel(unlisted)).rejects.toThrow(`${unlisted}: has no weights for layer "batch_normalization_3" (BatchNormalization)`)
  })

  it('weights listed out of order are placed by their names (the Keras loader goes by list order; real files never differ)', async () => {
    // weight_names lists moving_mean before gamma; placed by list order the predictions would change.
    const swapped = damaged(
      "g = w['batch_normalization']; names = list(g.attrs['weight_names']); names[0], names[2] = names[2], names[0]; g.attrs['weight_names'] = names"
    )
    const a = await readKerasModel(file('resnet8_cifar10_keras2.4.0_functional.h5'))
    const b = await readKerasModel(swapped)
    const x = tf.randomUniform([2, 32, 32, 3], 0, 255, 'float32', 4)
    expect(Array.from((b.model.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((a.model.predict(x) as tf.Tensor).dataSync()))
    a.model.dispose()
    b.model.dispose()
  })
})

describe('imported models on the fast frozen-layer engine', () => {
  it.each([
    ['resnet8_cifar10_keras2.4.0_functional.h5', 'raw', undefined],
    ['cifar10_bn_keras2.8.0_weights_only.h5', 'unit', 'cifar10_bn_keras2.8.0_weights_only.model.json']
  ] as const)('%s: onnxruntime runs all but its last layer, scaling "%s" included, as tfjs does', async (name, preprocess, architecture) => {
    const { model } = await readKerasModel(file(name), { architecture: architecture && file(architecture) })
    const view = loadedView(model, 32)
    const part = partition(view, () => true)
    const spec = prefixSpec(view, part, preprocess)!
    const notices: string[] = []
    const runner = await createPrefixRunner(spec, { inferenceBackend: 'wasm', only: 'onnx', threads: 1, onNotice: (n) => notices.push(n) })
    expect(notices).toEqual([])
    expect(runner.description).toMatch(/onnx/i)
    const reference = mainThreadRunner(spec, 'wasm')
    expect(await disagreement(spec, runner, reference)).toBeLessThan(1e-4)
    await runner.close()
    part.dispose()
    model.dispose()
  })
})
