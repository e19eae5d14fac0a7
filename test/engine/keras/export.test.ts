// Exporting as a Keras HDF5 file. Nothing here can run Python Keras, so the file is checked three
// ways: its layout, read by h5py, against real Keras files (the same attributes of the same
// kinds, the same layer and weight names as the file it came from); export -> import gives the
// same predictions; and NumPy, reading the exported weights with h5py, recomputes a Dense and a
// Conv2D layer that tfjs computed.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { HeadConfig } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import { loadBackbone } from '../../../src/engine/backbones/load'
import { CIFAR10_CLASSES } from '../../../src/engine/datasets/cifar'
import { writeKerasH5 } from '../../../src/engine/keras/export'
import { readKerasModel } from '../../../src/engine/keras/import'
import { exportKerasModel, importKerasModel } from '../../../src/engine/keras/model-io'
import { buildTransferModel } from '../../../src/engine/model/build'
import { saveModel } from '../../../src/engine/model/store'
import { MODELS, tempDir, weightsMirror } from '../../helpers'

const KERAS = path.join(MODELS, 'keras-h5')
const RESNET8 = path.join(KERAS, 'resnet8_cifar10_keras2.4.0_functional.h5')
// tf.keras 2.15 writes every string attribute as h5py does for str: variable-length.
const KERAS_2_15 = path.join(KERAS, 'cifar10_bn_keras2.15.0_sequential.h5')
const SCRIPT = path.join(path.dirname(new URL(import.meta.url).pathname), 'keras_h5.py')

interface Layout {
  root_attrs: Record<string, string>
  model_weights_attrs: Record<string, string>
  keras_version: string
  backend: string
  layer_names: string[]
  layers: Record<string, { weight_names_kind: string; weights: [string, number[], string][] }>
  config_class: string
  config_layers: [string, string, unknown][]
}

function python<T>(args: string[], input?: unknown): T {
  const result = spawnSync('/usr/bin/python3', [SCRIPT, ...args], {
    encoding: 'utf8',
    input: input === undefined ? undefined : JSON.stringify(input),
    maxBuffer: 1 << 28
  })
  if (result.status !== 0) throw new Error(`keras_h5.py ${args[0]} failed: ${result.stderr}`)
  return JSON.parse(result.stdout) as T
}

const layoutOf = (file: string): Layout => python<Layout>(['layout', file])

/** Output of `layer` inside `model` for `x`. */
function layerOutput(model: tf.LayersModel, layer: string, x: tf.Tensor): tf.Tensor {
  return tf.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as tf.SymbolicTensor }).predict(x) as tf.Tensor
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length)
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return worst
}

let reference: Layout
beforeAll(async () => {
  await initBackend()
  reference = layoutOf(KERAS_2_15)
})

describe('an imported Keras model written back', () => {
  it('has the layout of the Keras file it came from, the same weights, and the same predictions', async () => {
    const original = await readKerasModel(RESNET8)
    const file = path.join(tempDir(), 'resnet8.h5')
    await writeKerasH5(original.model, file)

    const ours = layoutOf(file)
    const theirs = layoutOf(RESNET8)
    expect(ours.layer_names).toEqual(theirs.layer_names)
    expect(ours.layers).toEqual(
      Object.fromEntries(Object.entries(theirs.layers).map(([name, layer]) => [name, { ...layer, weight_names_kind: ours.layers[name].weight_names_kind }]))
    )
    expect(ours.config_class).toBe('Functional')
    expect(ours.config_layers).toEqual(theirs.config_layers)
    // Attribute names and kinds as tf.keras 2.15 writes them (it also writes training_config, which
    // load_model does without: it only compiles the model when one is there).
    const { training_config: _training, ...rootKinds } = reference.root_attrs
    expect(ours.root_attrs).toEqual(rootKinds)
    expect(ours.model_weights_attrs).toEqual(reference.model_weights_attrs)
    for (const layer of Object.values(ours.layers)) {
      expect(layer.weight_names_kind).toBe(layer.weights.length ? reference.layers.conv2d.weight_names_kind : reference.layers.activation.weight_names_kind)
    }
    expect([ours.keras_version, ours.backend]).toEqual(['2.15.0', 'tensorflow'])
    const weightCount = Object.values(theirs.layers).reduce((n, layer) => n + layer.weights.length, 0)
    expect(weightCount).toBe(48)
    expect(python(['same-weights', RESNET8, file])).toEqual({ keys_equal: true, values_equal: true, count: weightCount })

    const again = await readKerasModel(file)
    const x = tf.randomUniform([8, 32, 32, 3], 0, 255, 'float32', 5)
    const a = (original.model.predict(x) as tf.Tensor).dataSync()
    const b = (again.model.predict(x) as tf.Tensor).dataSync()
    expect(Array.from(b)).toEqual(Array.from(a))

    // NumPy's convolution of the first layer, from the weights h5py reads in the exported file.
    const image = tf.randomUniform([1, 32, 32, 3], 0, 255, 'float32', 6)
    const tfjs = layerOutput(again.model, 'conv2d', image).dataSync()
    const numpy = python<{ y: number[][][] }>(['conv', file, 'conv2d'], { x: (image.arraySync() as number[][][][])[0] }).y.flat(2)
    expect(maxDifference(tfjs, numpy) / Math.max(...numpy.map(Math.abs))).toBeLessThan(1e-5)
    original.model.dispose()
    again.model.dispose()
  })
})

describe('a model trained in the studio, exported', () => {
  it('reads back with identical predictions, keeps frozen layers frozen, and NumPy agrees on its classifier', async () => {
    const backend = await initBackend()
    const loaded = await loadBackbone('mobilenet_v1_0.25_224', { mirror: weightsMirror(), home: tempDir() })
    const head = HeadConfig.parse({ dropout: 0.2, dense: [{ units: 16, batchNorm: true, dropout: 0.3 }] })
    const tm = buildTransferModel(loaded, { classes: ['cat', 'dog', 'fox'], head, inputSize: 112, seed: 3 })
    for (const name of tm.backboneLayers) tm.model.getLayer(name).trainable = false
    // A few steps of training, so the head's weights and BatchNormalization statistics are its own.
    await tf.setBackend(backend.training)
    tm.model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' })
    const xs = tf.randomUniform([6, 112, 112, 3], -1, 1, 'float32', 7)
    await tm.model.fit(xs, tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3), { epochs: 2, batchSize: 3, verbose: 0 })
    await tf.setBackend(backend.inference)

    const dir = path.join(tempDir(), 'model')
    await saveModel(
      tm.model,
      {
        format: 'transfer-studio-model',
        formatVersion: 1,
        appVersion: 'test',
        createdAt: new Date().toISOString(),
        labels: tm.classes,
        backbone: tm.backbone.id,
        preprocess: 'tf',
        inputSize: 112,
        head,
        freeze: { kind: 'all' },
        frozenLayers: tm.backboneLayers,
        training: null,
        metrics: { loss: null, acc: null, val_loss: null, val_acc: null, test_acc: null, epochs: 2 }
      },
      dir
    )
    const file = path.join(tempDir(), 'trained.h5')
    await exportKerasModel(dir, file)

    const ours = layoutOf(file)
    expect(ours.root_attrs).toEqual({ backend: 'vlen-string', keras_version: 'vlen-string', model_config: 'vlen-string' })
    expect(ours.model_weights_attrs).toEqual(reference.model_weights_attrs)
    expect(ours.layer_names).toEqual(tm.model.layers.map((l) => l.name))
    expect(ours.layers.conv1_bn.weights.map((w) => w[0])).toEqual([
      'conv1_bn/gamma:0',
      'conv1_bn/beta:0',
      'conv1_bn/moving_mean:0',
      'conv1_bn/moving_variance:0'
    ])
    // Keras 2 has no relu6 activation: MobileNet's become ReLU(max_value=6), as Keras' own MobileNet has them.
    const classes = new Map(ours.config_layers.map(([cls, name]) => [name, cls]))
    expect(classes.get('conv1_relu')).toBe('ReLU')
    const config = JSON.parse(
      spawnSync('/usr/bin/python3', ['-c', 'import h5py,sys; print(h5py.File(sys.argv[1])["/"].attrs["model_config"])', file], { encoding: 'utf8' }).stdout
    )
    const trainable = new Map(config.config.layers.map((l: { config: { name: string; trainable: boolean } }) => [l.config.name, l.config.trainable]))
    expect(trainable.get('conv_pw_13_bn')).toBe(false)
    expect(trainable.get('predictions')).toBe(true)

    const again = await readKerasModel(file)
    const x = tf.randomUniform([3, 112, 112, 3], -1, 1, 'float32', 8)
    const a = (tm.model.predict(x) as tf.Tensor).dataSync()
    const b = (again.model.predict(x) as tf.Tensor).dataSync()
    expect(maxDifference(a, b)).toBeLessThan(1e-6)
    expect(again.model.getLayer('conv_pw_13_bn').trainable).toBe(false)

    // The classifier recomputed by NumPy from the exported kernel and bias.
    const before = tm.graph[tm.graph.findIndex((n) => n.layer.name === 'predictions') - 1].layer.name
    const features = layerOutput(tm.model, before, x).arraySync() as number[][]
    const numpy = python<{ y: number[][] }>(['dense', file, 'predictions'], { x: features }).y.flat()
    expect(maxDifference(a, numpy)).toBeLessThan(1e-5)
    tm.model.dispose()
    loaded.model.dispose()
    again.model.dispose()
  })

  it('an imported Sequential model exports from its folder with its weights as Keras saved them, and re-imports to the same outputs', async () => {
    const dir = path.join(tempDir(), 'model')
    await importKerasModel(path.join(KERAS, 'cifar10_bn_keras2.15.0_sequential.h5'), dir, { preprocess: 'unit', labels: CIFAR10_CLASSES })
    const file = path.join(tempDir(), 'cifar.h5')
    await exportKerasModel(dir, file)
    expect(python(['same-weights', KERAS_2_15, file])).toMatchObject({ keys_equal: true, values_equal: true })
    const ours = layoutOf(file)
    expect(ours.config_class).toBe('Sequential')
    expect(ours.layer_names).toEqual(reference.layer_names)
    expect(ours.config_layers[0].slice(0, 2)).toEqual(['InputLayer', 'conv2d_input'])
    expect(fs.statSync(file).size).toBeGreaterThan(179_418 * 4)

    const original = await readKerasModel(KERAS_2_15)
    const again = await readKerasModel(file)
    const x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 9)
    expect(Array.from((again.model.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((original.model.predict(x) as tf.Tensor).dataSync()))
    original.model.dispose()
    again.model.dispose()
  })

  it('refuses an output path it cannot write, naming it', async () => {
    const { model } = await readKerasModel(RESNET8)
    await expect(writeKerasH5(model, '/nonexistent-dir/x.h5')).rejects.toThrow(
      'Could not write /nonexistent-dir/x.h5: the folder /nonexistent-dir does not exist'
    )
    model.dispose()
  })
})

describe('a model nested in another (a backbone inside a Sequential, as many Keras recipes build it)', () => {
  it('is written as Keras nests it, respelled inside too, and reads back with the same predictions', async () => {
    const input = tf.input({ shape: [8, 8, 3], name: 'inner_input' })
    let y = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'c1' }).apply(input) as tf.SymbolicTensor
    y = tf.layers.batchNormalization({ name: 'bn1' }).apply(y) as tf.SymbolicTensor
    y = tf.layers.activation({ activation: 'relu6', name: 'r1' }).apply(y) as tf.SymbolicTensor
    const inner = tf.model({ inputs: input, outputs: y, name: 'backbone' })
    inner.getLayer('c1').trainable = false
    const outer = tf.sequential({ layers: [inner, tf.layers.flatten({ name: 'f' }), tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' })] })
    const bn = inner.getLayer('bn1')
    bn.setWeights(bn.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.5, 1.5, 'float32', i)))
    const file = path.join(tempDir(), 'nested.h5')
    await writeKerasH5(outer, file)

    const ours = layoutOf(file)
    expect(ours.layer_names).toEqual(['backbone', 'f', 'out'])
    // Keras saves a layer's trainable weights first, then the rest: the frozen conv comes after BN's gamma and beta.
    expect(ours.layers.backbone.weights.map((w) => w[0])).toEqual([
      'bn1/gamma:0',
      'bn1/beta:0',
      'c1/kernel:0',
      'c1/bias:0',
      'bn1/moving_mean:0',
      'bn1/moving_variance:0'
    ])
    const config = JSON.parse(
      spawnSync('/usr/bin/python3', ['-c', 'import h5py,sys; print(h5py.File(sys.argv[1])["/"].attrs["model_config"])', file], { encoding: 'utf8' }).stdout
    )
    expect(config.config.layers[0].class_name).toBe('Functional')
    expect(config.config.layers[0].config.layers.map((l: { class_name: string }) => l.class_name)).toEqual([
      'InputLayer',
      'Conv2D',
      'BatchNormalization',
      'ReLU'
    ])

    const again = await readKerasModel(file)
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 1)
    expect(Array.from((again.model.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((outer.predict(x) as tf.Tensor).dataSync()))
    outer.dispose()
    again.model.dispose()
  })
})
