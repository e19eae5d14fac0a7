import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FreezeSpec, HeadConfig } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import { loadBackbone, type LoadedBackbone } from '../../../src/engine/backbones/load'
import { decodeImage } from '../../../src/engine/images/decode'
import { buildTransferModel, type TransferModel } from '../../../src/engine/model/build'
import { applyFreeze } from '../../../src/engine/model/freeze'
import { exportOnnx } from '../../../src/engine/model/onnx-export'
import { partition, prefixSpec } from '../../../src/engine/train/partition'
import { OnnxPrefix } from '../../../src/engine/prefix/onnx'
import { createPrefixRunner } from '../../../src/engine/prefix/choose'
import { mainThreadRunner } from '../../../src/engine/prefix/main-thread'
import type { PrefixRunner, PrefixSpec } from '../../../src/engine/prefix/runner'
import { largestDifference, PHOTOS, tempDir, weightsMirror } from '../../helpers'

let options: { home: string; mirror: string }
const made: Array<{ tm: TransferModel; loaded: LoadedBackbone }> = []

beforeAll(async () => {
  await initBackend()
  options = { home: tempDir(), mirror: weightsMirror() }
})
afterAll(() => {
  for (const { tm, loaded } of made) {
    tm.model.dispose()
    loaded.model.dispose()
  }
})

async function frozenPrefix(backbone: string, freeze: FreezeSpec = { kind: 'all' }, inputSize?: number, head: Partial<HeadConfig> = {}, everything = false) {
  const loaded = await loadBackbone(backbone, options)
  const tm = buildTransferModel(loaded, { classes: ['a', 'b'], head: HeadConfig.parse(head), inputSize: inputSize ?? loaded.spec.inputSize, seed: 1 })
  made.push({ tm, loaded })
  applyFreeze(tm, freeze)
  // `everything`: all but the last layer, as scoring a saved model splits it.
  const part = everything ? partition(tm, () => true) : partition(tm)
  return { tm, part, spec: prefixSpec(tm, part, tm.backbone.preprocess)! }
}

async function photos(names: string[], size: number): Promise<Uint8Array> {
  const images = await Promise.all(names.map((f) => decodeImage(path.join(PHOTOS, f), size)))
  return Uint8Array.from(images.flatMap((i) => [...i.data]))
}

/** Largest difference, and the largest value of `b` (the tfjs reference). */
const compare = largestDifference

async function expectSameFeatures(spec: PrefixSpec, pixels: Uint8Array, count: number) {
  const onnx = await OnnxPrefix.create(spec, 2)
  if (typeof onnx === 'string') throw new Error(onnx)
  const ours = await onnx.run(pixels, count)
  const reference = await mainThreadRunner(spec, 'wasm').run(pixels, count)
  await onnx.close()
  const { worst, scale } = compare(ours, reference)
  // Float32 kernels summing in another order: differences at the 1e-6 level of the outputs' size.
  expect(scale).toBeGreaterThan(0.1)
  expect(worst / scale).toBeLessThan(1e-4)
  return ours
}

describe('frozen layers on onnxruntime', () => {
  it.each(['mobilenet_v1_0.25_224', 'mobilenet_v1_0.75_224', 'resnet50'])('%s: the same features as tfjs on real photos', async (backbone) => {
    const { spec, part } = await frozenPrefix(backbone)
    expect(part.cutLayer).toBe('head_pool')
    const features = await expectSameFeatures(spec, await photos(['chelsea.png', 'coffee.png', 'rocket.jpg'], 224), 3)
    expect(features.length).toBe(3 * part.featureShape[0])
  })

  it('a cut inside the backbone hands back the feature map channels-last, as tfjs does', async () => {
    const { spec, part } = await frozenPrefix('mobilenet_v1_0.25_224', { kind: 'upTo', layer: 'conv_pw_11_relu' })
    expect(part.cutLayer).toBe('conv_pw_11_relu')
    expect(part.featureShape).toEqual([14, 14, 128])
    await expectSameFeatures(spec, await photos(['chelsea.png', 'coffee.png'], 224), 2)
  })

  it('upsamples small images (CIFAR-size input) exactly as the UpSampling2D layer does', async () => {
    const { spec, part } = await frozenPrefix('mobilenet_v1_0.25_224', { kind: 'all' }, 32)
    expect(part.prefixNodes.map((n) => n.layer.name)).toContain('upsample')
    await expectSameFeatures(spec, await photos(['chelsea.png', 'coffee.png'], 32), 2)
  })

  it("runs a head's BatchNormalization, Dense and Dropout layers too (scoring a saved model does)", async () => {
    const head = { dropout: 0.1, dense: [{ units: 16, activation: 'relu' as const, batchNorm: true, dropout: 0.2 }] }
    const { spec, part } = await frozenPrefix('mobilenet_v1_0.25_224', { kind: 'all' }, undefined, head, true)
    expect(part.cutLayer).toBe('head_dropout_1')
    expect(part.prefixNodes.map((n) => n.layer.getClassName())).toEqual(expect.arrayContaining(['BatchNormalization', 'Dense', 'Dropout']))
    await expectSameFeatures(spec, await photos(['chelsea.png', 'coffee.png'], 224), 2)
  })

  it('translates layers our backbones do not use: BatchNormalization without scale and centre, pooling, concatenation', async () => {
    // A small graph of its own (no pretrained weights have these), with moving statistics set away from 0 and 1.
    const input = tf.input({ shape: [16, 16, 3], name: 'image' })
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'conv' })
    const bn = tf.layers.batchNormalization({ scale: false, center: false, name: 'bn' })
    const avg = tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'avg' })
    const max = tf.layers.maxPooling2d({ poolSize: 2, name: 'max' })
    const up = tf.layers.upSampling2d({ size: [2, 2], name: 'up' })
    const join = tf.layers.concatenate({ name: 'join' })
    const pool = tf.layers.globalMaxPooling2d({ name: 'pool' })
    const c = conv.apply(input) as tf.SymbolicTensor
    const b = bn.apply(c) as tf.SymbolicTensor
    const a = avg.apply(b) as tf.SymbolicTensor
    const m = up.apply(max.apply(b) as tf.SymbolicTensor) as tf.SymbolicTensor
    const j = join.apply([a, m]) as tf.SymbolicTensor
    const out = pool.apply(j) as tf.SymbolicTensor
    bn.setWeights([tf.randomUniform([4], -1, 1, 'float32', 3), tf.randomUniform([4], 0.5, 2, 'float32', 4)])
    const model = tf.model({ inputs: input, outputs: out })
    const tensors: Record<string, tf.SymbolicTensor> = { image: input, conv: c, bn: b, avg: a, max: max.output as tf.SymbolicTensor, up: m, join: j, pool: out }
    const nodes = [
      { layer: input.sourceLayer as tf.layers.Layer, inputs: [] },
      { layer: conv, inputs: ['image'] },
      { layer: bn, inputs: ['conv'] },
      { layer: avg, inputs: ['bn'] },
      { layer: max, inputs: ['bn'] },
      { layer: up, inputs: ['max'] },
      { layer: join, inputs: ['avg', 'up'] },
      { layer: pool, inputs: ['join'] }
    ]
    const spec: PrefixSpec = { model, nodes, shapeOf: (name) => tensors[name].shape, size: 16, preprocess: 'torch' }
    const pixels = Uint8Array.from({ length: 2 * 16 * 16 * 3 }, (_, i) => (i * 37) % 256)
    await expectSameFeatures(spec, pixels, 2)
    model.dispose()
  })

  it('names the layer it cannot translate, and the run falls back to tfjs-wasm with a notice', async () => {
    const input = tf.input({ shape: [8, 8, 3], name: 'image' })
    const crop = tf.layers.cropping2D({ cropping: 1, name: 'crop' })
    const output = crop.apply(input) as tf.SymbolicTensor
    const model = tf.model({ inputs: input, outputs: output })
    const nodes = [
      { layer: input.sourceLayer as tf.layers.Layer, inputs: [] },
      { layer: crop, inputs: ['image'] }
    ]
    const shapes: Record<string, (number | null)[]> = { image: input.shape, crop: output.shape }
    const spec: PrefixSpec = { model, nodes, shapeOf: (name) => shapes[name], size: 8, preprocess: 'tf' }
    expect(() => exportOnnx(nodes, spec.shapeOf, 'tf')).toThrow('layer crop (Cropping2D): no ONNX translation')

    const notices: string[] = []
    const runner = await createPrefixRunner(spec, { inferenceBackend: 'wasm', onNotice: (m) => notices.push(m), threads: 2 })
    expect(runner.description).toBe('tfjs-wasm on 2 worker threads')
    expect(notices.join('\n')).toContain('layer crop (Cropping2D)')
    const pixels = Uint8Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => i % 256)
    expect(Array.from(await runner.run(pixels, 2))).toEqual(Array.from(await mainThreadRunner(spec, 'wasm').run(pixels, 2)))
    await runner.close()
    model.dispose()
  })

  it('is not used when its numbers disagree with tfjs (checked on a probe image before any features)', async () => {
    const { spec } = await frozenPrefix('mobilenet_v1_0.25_224')
    // The reference model has one BatchNormalization scaled: onnxruntime (from the real nodes) now disagrees.
    const other = await frozenPrefix('mobilenet_v1_0.25_224')
    const bn = other.tm.model.getLayer('conv1_bn')
    bn.setWeights(bn.getWeights().map((w, i) => (i === 0 ? w.mul(2) : w)))
    const notices: string[] = []
    let runner: PrefixRunner | null = null
    try {
      runner = await createPrefixRunner(
        { ...spec, model: other.spec.model },
        { inferenceBackend: 'wasm', onNotice: (m) => notices.push(m), only: 'onnx', threads: 2 }
      )
      expect(runner.description).not.toContain('onnxruntime')
      expect(notices.join('\n')).toMatch(/outputs differ from tfjs' by .* more than 0\.001/)
    } finally {
      await runner?.close()
    }
  })

  it('is chosen when everything checks out, and says so', async () => {
    const { spec } = await frozenPrefix('mobilenet_v1_0.25_224')
    const notices: string[] = []
    const runner = await createPrefixRunner(spec, { inferenceBackend: 'wasm', onNotice: (m) => notices.push(m), threads: 2 })
    expect(runner.description).toMatch(/^onnxruntime-node \d+\.\d+\.\d+ \(CPU, 2 threads\)$/)
    expect(notices).toEqual([])
    await runner.close()
  })
})
