// The native training step on real weights and real photos: MobileNet v1 0.25 frozen up to
// conv_pw_11_relu (its last two blocks and the head train), features of hymenoptera photos from the
// frozen prefix, Adam steps equal to tfjs's cpu steps with BatchNorm statistics frozen.
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HeadConfig } from '../../../src/shared/protocol'
import { loadBackbone, type LoadedBackbone } from '../../../src/engine/backbones/load'
import { buildProbeGraph, INPUT_GRAD, OUTPUT_GRAD, suffixOf } from '../../../src/engine/finetune/build'
import { NativeTrainer } from '../../../src/engine/finetune/runner'
import { loadOnnxRuntime } from '../../../src/engine/onnx-runtime'
import { buildTransferModel, type TransferModel } from '../../../src/engine/model/build'
import { applyFreeze } from '../../../src/engine/model/freeze'
import { categoricalCrossentropy, countCorrect } from '../../../src/engine/train/loss'
import { makeOptimizer } from '../../../src/engine/train/optimizer'
import { partition, type Partition } from '../../../src/engine/train/partition'
import { tempDir, weightsMirror } from '../../helpers'
import { realFeatures, relativeError } from './reference'

// The reference, tfjs's cpu backend, takes about a minute a step here (hence the long timeouts); with
// fewer images Adam's division by tiny gradients magnifies float32 rounding past the tolerance.
const PER_CLASS = 4
const STEPS = 3

let loaded: LoadedBackbone
let tm: TransferModel
let part: Partition
let features: Float32Array
let labels: Int32Array

beforeAll(async () => {
  loaded = await loadBackbone('mobilenet_v1_0.25_224', { home: tempDir(), mirror: weightsMirror() })
  // Loading picks the inference backend; the reference is tfjs's cpu backend (the one with every gradient).
  await tf.setBackend('cpu')
  // Keras' Glorot classifier: a zero one would pass no gradient to the blocks below at the first step.
  tm = buildTransferModel(loaded, { classes: ['ants', 'bees'], head: HeadConfig.parse({ init: 'keras' }), inputSize: 224, seed: 3 })
  applyFreeze(tm, { kind: 'upTo', layer: 'conv_pw_11_relu' })
  part = partition(tm)
  ;({ features, labels } = await realFeatures(tm, part, PER_CLASS))
})

afterAll(() => {
  tm.model.dispose()
  loaded.model.dispose()
})

describe('native training on MobileNet v1 0.25, last two blocks', () => {
  it('gradients of every trainable weight and of the features equal tf.grads on cpu', { timeout: 600_000 }, async () => {
    const probe = buildProbeGraph(suffixOf(tm, part, tm.backbone.preprocess))
    const runtime = await loadOnnxRuntime()
    if (typeof runtime === 'string') throw new Error(runtime)
    const count = labels.length
    const r = Float32Array.from({ length: count * 2 }, (_, i) => Math.sin(i * 1.7))
    const x = tf.tensor(features, [count, ...part.featureShape])
    const rt = tf.tensor(r, [count, 2])
    const objective = (input: tf.Tensor) => (part.suffix.apply(input, { training: false }) as tf.Tensor).mul(rt).sum() as tf.Scalar
    const variables = part.suffix.trainableWeights.map((w) => w.read() as tf.Variable)
    const { grads } = tf.variableGrads(() => objective(x), variables)
    const dx = tf.grad(objective)(x)

    const session = await runtime.InferenceSession.create(probe.bytes, { intraOpNumThreads: 2, logSeverityLevel: 3 })
    const feeds: Record<string, InstanceType<typeof runtime.Tensor>> = {
      features: new runtime.Tensor('float32', features, [count, ...part.featureShape]),
      [OUTPUT_GRAD]: new runtime.Tensor('float32', r, [count, 2])
    }
    for (const w of probe.weights) feeds[w.input] = new runtime.Tensor('float32', w.variable.read().dataSync() as Float32Array, w.variable.shape as number[])
    const out = await session.run(feeds)
    await session.release()
    const errors = probe.weights.map(
      (w) => [w.variable.originalName, relativeError(out[w.output].data as Float32Array, grads[w.variable.name].dataSync())] as const
    )
    errors.push(['features', relativeError(out[INPUT_GRAD].data as Float32Array, dx.dataSync())])
    const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a))
    console.log(
      `MobileNet v1 0.25 last two blocks, real features: worst relative gradient difference ${worst[1].toExponential(2)} (${worst[0]}) over ${errors.length} tensors`
    )
    for (const [name, error] of errors) expect(error, name).toBeLessThan(1e-4)
    tf.dispose([x, rt, dx, ...Object.values(grads)])
  })

  it('Adam steps on real features equal tfjs cpu steps (BatchNorm statistics frozen)', { timeout: 600_000 }, async () => {
    expect(part.cutLayer).toBe('conv_pw_11_relu')
    expect(part.featureShape).toEqual([14, 14, 128])
    const variables = part.suffix.trainableWeights.map((w) => w.read() as tf.Variable)
    const names = part.suffix.trainableWeights.map((w) => w.originalName)
    expect(names).toContain('conv_dw_12/depthwise_kernel')
    expect(names).toContain('conv_pw_13_bn/gamma')

    const settings = { optimizer: 'adam', learningRate: 1e-3, momentum: 0 } as const
    // maxBatch: where this CPU has onnxruntime's blocked kernels, the depthwise layers' kernel gradients run on them too.
    const trainer = await NativeTrainer.create(suffixOf(tm, part, tm.backbone.preprocess), settings, 2, { maxBatch: labels.length })
    if (typeof trainer === 'string') throw new Error(trainer)
    if (process.arch === 'x64') expect(trainer.description).toMatch(/blocked kernels/)
    expect(trainer.getWeights().map((w) => w.variable.originalName)).toEqual(names)
    const initial = variables.map((v) => v.dataSync().slice())
    const optimizer = makeOptimizer(settings)
    const x = tf.tensor(features, [labels.length, ...part.featureShape])
    // Validation's scoring graph (each BatchNormalization and ReLU6 folded into its convolution where the kernels are blocked).
    const probabilities = tf.tidy(() => (part.suffix.apply(x, { training: false }) as tf.Tensor).dataSync())
    expect(relativeError(await trainer.predict(features, labels.length), probabilities)).toBeLessThan(1e-5)
    let worst = 0
    for (let step = 0; step < STEPS; step++) {
      let right = 0
      const loss = tf.tidy(() => {
        const target = tf.tensor1d(labels, 'int32')
        const cost = optimizer.minimize(
          () => {
            const p = part.suffix.apply(x, { training: false }) as tf.Tensor
            right = countCorrect(target, p).dataSync()[0]
            return categoricalCrossentropy(tf.oneHot(target, 2), p)
          },
          true,
          variables
        )!
        return cost.dataSync()[0]
      })
      const got = await trainer.step(features, labels)
      expect(got.right).toBe(right)
      expect(Math.abs(got.loss - loss) / loss).toBeLessThan(1e-4)
      trainer.getWeights().forEach(({ values }, i) => {
        const want = variables[i].dataSync()
        const error = relativeError(
          Float32Array.from(values, (v, k) => v - initial[i][k]),
          Float32Array.from(want, (v, k) => v - initial[i][k])
        )
        worst = Math.max(worst, error)
        expect(error, `${names[i]} after step ${step + 1}`).toBeLessThan(1e-3)
      })
    }
    console.log(`MobileNet v1 0.25 last two blocks, ${STEPS} Adam steps: worst relative difference of the weights' change ${worst.toExponential(2)}`)
    x.dispose()
    optimizer.dispose()
    await trainer.close()
  })
})
