// Scoring graphs fold BatchNormalization (and the ReLU after it) into the blocked convolution
// before it (batchnorm-fold.ts): the probabilities and pooled features must stay the tfjs model's,
// whatever the fold takes (a bias, a missing gamma or beta, a capped or plain ReLU, no activation
// before an Add, a normalisation two layers read) and wherever it must not fold (a convolution two
// layers read).
import * as tf from '@tensorflow/tfjs'
import protos from 'onnx-proto'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildScoringGraph, suffixOfModel } from '../../../src/engine/finetune/build'
import { nchwcBlock } from '../../../src/engine/finetune/nchwc'
import { NativeTrainer } from '../../../src/engine/finetune/runner'
import { foldPlans } from '../../../src/engine/finetune/batchnorm-fold'
import { seededRandom } from '../../../src/engine/util/random'
import { ort, randomArray, randomiseWeights, relativeError } from './reference'

const BATCH = 5
const CLASSES = 3
// 32 channels: whole blocks of 8 (AVX2) and of 16 (AVX-512); an odd size for the padding.
const SHAPE = [9, 9, 32]

beforeAll(async () => {
  await tf.setBackend('cpu')
})

function model(): tf.LayersModel {
  const x = tf.input({ shape: SHAPE })
  const apply = (layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(input) as tf.SymbolicTensor
  const bn = (config: Parameters<typeof tf.layers.batchNormalization>[0] = {}) => tf.layers.batchNormalization({ epsilon: 1e-3, ...config })
  // A Conv2D with a bias, then a plain ReLU as an Activation layer.
  let y = apply(tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', name: 'with_bias' }), x)
  y = apply(tf.layers.activation({ activation: 'relu' }), apply(bn(), y))
  // Depthwise, stride 2, TensorFlow's uneven 'same'; a frozen normalisation without gamma (batch
  // statistics need both gamma and beta); ReLU6.
  y = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'depthwise' }), y)
  const branch = apply(tf.layers.reLU({ maxValue: 6 }), apply(bn({ scale: false, trainable: false }), y))
  // Two convolutions normalised into an Add (no activation to fold), ReLU after it.
  const main = apply(bn({ center: false, trainable: false }), apply(tf.layers.conv2d({ filters: 32, kernelSize: 1, useBias: false, name: 'main' }), branch))
  const shortcut = apply(bn(), apply(tf.layers.conv2d({ filters: 32, kernelSize: 1, useBias: false, name: 'shortcut' }), branch))
  y = apply(tf.layers.reLU({}), apply(tf.layers.add({}), [main, shortcut]))
  // A normalisation two layers read: folded, the ReLU after it not.
  const shared = apply(bn(), apply(tf.layers.conv2d({ filters: 32, kernelSize: 1, useBias: false, name: 'shared_norm' }), y))
  y = apply(tf.layers.add({}), [apply(tf.layers.reLU({ maxValue: 6 }), shared), shared])
  // A convolution two layers read: not folded.
  const read = apply(tf.layers.conv2d({ filters: 32, kernelSize: 1, useBias: false, name: 'shared_conv' }), y)
  y = apply(tf.layers.add({}), [apply(tf.layers.reLU({}), apply(bn(), read)), read])
  y = apply(tf.layers.globalAveragePooling2d({ name: 'pool' }), y)
  y = apply(tf.layers.dense({ units: CLASSES, activation: 'softmax' }), y)
  return tf.model({ inputs: x, outputs: y })
}

describe('scoring graphs fold BatchNormalization into blocked convolutions', () => {
  it('plans a fold for each convolution whose normalisation only it feeds, with the ReLU after it', () => {
    const m = model()
    const plans = foldPlans(suffixOfModel(m).nodes, new Set())
    const described = [...plans].map(([conv, plan]) => `${conv}: ${plan.absorbed.length} ${JSON.stringify(plan.activation)}`)
    expect(described).toEqual(['with_bias: 2 {"max":null}', 'depthwise: 2 {"max":6}', 'main: 1 null', 'shortcut: 1 null', 'shared_norm: 1 null'])
    // A layer whose output the graph gives keeps it: a convolution's is not normalised, a normalisation's not activated.
    expect(foldPlans(suffixOfModel(m).nodes, new Set(['with_bias'])).has('with_bias')).toBe(false)
    const normKept = foldPlans(suffixOfModel(m).nodes, new Set([plans.get('with_bias')!.batchNorm.name])).get('with_bias')
    expect(normKept?.absorbed).toEqual([plans.get('with_bias')!.batchNorm.name])
    expect(normKept?.activation).toBeNull()
    m.dispose()
  })

  it("gives the tfjs model's probabilities and pooled features, before and after training steps, in both BatchNorm modes", async () => {
    const block = await nchwcBlock(await ort())
    for (const mode of ['frozen', 'batch'] as const) {
      const m = model()
      randomiseWeights(m, 5)
      const suffix = suffixOfModel(m)
      const trainer = await NativeTrainer.create(suffix, { optimizer: 'adam', learningRate: 0.01, momentum: 0 }, 2, { batchNorm: mode, maxBatch: BATCH })
      if (typeof trainer === 'string') throw new Error(trainer)
      const random = seededRandom(9)
      const features = randomArray(BATCH * SHAPE.reduce((a, b) => a * b), random, 3)
      const x = tf.tensor(features, [BATCH, ...SHAPE])
      const pool = tf.model({ inputs: m.inputs, outputs: m.getLayer('pool').output as tf.SymbolicTensor })
      const expectSame = async (when: string) => {
        const probabilities = tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync())
        const pooled = tf.tidy(() => (pool.predict(x) as tf.Tensor).dataSync())
        expect(relativeError(await trainer.predict(features, BATCH), probabilities), `${mode}, probabilities ${when}`).toBeLessThan(1e-5)
        expect(relativeError(await trainer.predict(features, BATCH, 'pool'), pooled), `${mode}, pooled ${when}`).toBeLessThan(1e-5)
      }
      await expectSame('before training')
      for (let step = 0; step < 3; step++)
        await trainer.step(
          features,
          Int32Array.from({ length: BATCH }, (_, i) => (i + step) % CLASSES)
        )
      trainer.writeBack()
      await expectSame('after three steps')
      await trainer.close()
      x.dispose()
      m.dispose()
    }
    // Where this CPU has blocked kernels, the folds were made: one normalisation is left.
    if (block === null) return
    const m = model()
    const inputs = new Map(m.trainableWeights.map((w, i) => [w, `score_w${i}`] as const))
    const nodes = protos.onnx.ModelProto.decode(buildScoringGraph(suffixOfModel(m), inputs, { block }))!.graph!.node!
    expect(nodes.filter((n) => n.opType === 'BatchNormalization').length).toBe(1)
    const activations = nodes.flatMap((n) => n.attribute!.filter((a) => a.name === 'activation').map((a) => new TextDecoder().decode(a.s!)))
    expect(activations.sort()).toEqual(['Clip', 'Relu'])
    m.dispose()
  })
})
