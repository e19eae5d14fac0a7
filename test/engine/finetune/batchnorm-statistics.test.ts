// TrainConfig.batchNormStatistics on both training steps: 'frozen' leaves an unfrozen
// BatchNormalization's moving statistics bit-identical and trains as tfjs cpu in inference mode;
// 'train' moves them as Keras' formula says, moving = momentum * moving + (1 - momentum) * batch,
// with the batch's mean and (biased) variance computed here in plain JavaScript.
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { suffixOfModel } from '../../../src/engine/finetune/build'
import { NativeTrainer } from '../../../src/engine/finetune/runner'
import { applyKerasBatchNormSemantics, setBatchNormStatistics, type BatchNormStatistics } from '../../../src/engine/model/batchnorm'
import { makeOptimizer } from '../../../src/engine/train/optimizer'
import type { Partition } from '../../../src/engine/train/partition'
import { trainableVariables, trainStep } from '../../../src/engine/train/step'
import { seededRandom } from '../../../src/engine/util/random'
import { randomArray, randomiseWeights, relativeError } from './reference'

const BATCH = 5
const CLASSES = 3
const SHAPE = [9, 9, 6]
const MOMENTUM = 0.99
const SETTING = { optimizer: 'adam', learningRate: 0.01, momentum: 0 } as const

beforeAll(async () => {
  await tf.setBackend('cpu')
})

/** BatchNormalization first (its input is the batch itself), then a block and a softmax head; a second BN after the convolution. */
function model(mode: BatchNormStatistics): tf.LayersModel {
  const x = tf.input({ shape: SHAPE })
  let y = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: MOMENTUM, name: 'bn_in' }).apply(x) as tf.SymbolicTensor
  y = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(y) as tf.SymbolicTensor
  y = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: MOMENTUM, name: 'bn_conv' }).apply(y) as tf.SymbolicTensor
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(y) as tf.SymbolicTensor
  const made = tf.model({ inputs: x, outputs: y })
  applyKerasBatchNormSemantics(made.layers)
  setBatchNormStatistics(made.layers, mode)
  randomiseWeights(made, 3)
  return made
}

const moving = (m: tf.LayersModel) =>
  m.weights
    .filter((w) => /moving_(mean|variance)$/.test(w.originalName))
    .map((w) => ({ name: w.originalName, values: w.read().dataSync().slice() as Float32Array }))

function batches(count: number) {
  const random = seededRandom(19)
  return Array.from({ length: count }, () => ({
    features: randomArray(BATCH * SHAPE.reduce((a, b) => a * b), random, 2, 0.5),
    labels: Int32Array.from({ length: BATCH }, () => Math.floor(random() * CLASSES))
  }))
}

/** Both steps on the same model and data: tfjs's trainStep() (through the patched BatchNormalization) and the native graph. */
async function trainBoth(
  mode: BatchNormStatistics,
  steps: number,
  each: (step: number, reference: tf.LayersModel, ours: tf.LayersModel, batch: ReturnType<typeof batches>[number]) => void
) {
  const reference = model(mode)
  const ours = model(mode)
  const trainer = await NativeTrainer.create(suffixOfModel(ours), SETTING, 2, { batchNorm: mode === 'train' ? 'batch' : 'frozen' })
  if (typeof trainer === 'string') throw new Error(trainer)
  const optimizer = makeOptimizer(SETTING)
  const part = { suffix: reference } as unknown as Partition
  const variables = trainableVariables(part)
  for (const [step, batch] of batches(steps).entries()) {
    const x = tf.tensor(batch.features, [BATCH, ...SHAPE])
    const expected = trainStep(part, optimizer, variables, x, batch.labels, CLASSES)
    x.dispose()
    const got = await trainer.step(batch.features, batch.labels)
    trainer.writeBack()
    expect(got.right).toBe(expected.right)
    expect(Math.abs(got.loss - expected.loss) / expected.loss).toBeLessThan(1e-5)
    each(step, reference, ours, batch)
  }
  const result = { reference, ours }
  await trainer.close()
  optimizer.dispose()
  return result
}

describe('BatchNormalization statistics of unfrozen layers', () => {
  it("'frozen': moving statistics bit-identical after five steps on both steps, and the weights equal tfjs cpu in inference mode", async () => {
    const initial = moving(model('frozen'))
    let worst = 0
    const { reference, ours } = await trainBoth('frozen', 5, (step, reference, ours) => {
      for (const m of [reference, ours])
        moving(m).forEach((w, i) => expect(Array.from(w.values), `${w.name} after step ${step + 1}`).toEqual(Array.from(initial[i].values)))
      reference.trainableWeights.forEach((w, i) => {
        const error = relativeError(ours.trainableWeights[i].read().dataSync(), w.read().dataSync())
        worst = Math.max(worst, error)
        expect(error, `${w.originalName} after step ${step + 1}`).toBeLessThan(1e-5)
      })
    })
    // gamma and beta of both layers did train.
    const start = model('frozen')
    const gamma = (m: tf.LayersModel) => m.getLayer('bn_in').getWeights()[0].dataSync()
    expect(relativeError(gamma(ours), gamma(start))).toBeGreaterThan(1e-3)
    console.log(`frozen statistics: worst relative weight difference native vs tfjs over 5 steps ${worst.toExponential(2)}`)
    for (const m of [reference, ours, start]) m.dispose()
  })

  it("'frozen' in tfjs is inference mode: the same output as training=false, not tfjs's training mode", () => {
    const m = model('frozen')
    const x = tf.tensor(batches(1)[0].features, [BATCH, ...SHAPE])
    const training = m.apply(x, { training: true }) as tf.Tensor
    const inference = m.apply(x, { training: false }) as tf.Tensor
    expect(Array.from(training.dataSync())).toEqual(Array.from(inference.dataSync()))
    setBatchNormStatistics(m.layers, 'train')
    const batchMode = m.apply(x, { training: true }) as tf.Tensor
    expect(relativeError(batchMode.dataSync(), inference.dataSync())).toBeGreaterThan(1e-2)
    tf.dispose([x, training, inference, batchMode])
    m.dispose()
  })

  it("'train': the first layer's moving mean and variance follow Keras' formula with momentum 0.99, on both steps", async () => {
    const [c, pixels] = [SHAPE[2], BATCH * SHAPE[0] * SHAPE[1]]
    let previous = moving(model('train'))
    let worst = 0
    const { reference, ours } = await trainBoth('train', 3, (step, reference, ours, batch) => {
      // Keras: moving = momentum * moving + (1 - momentum) * batch statistic; the variance biased (divided by n).
      const mean = new Float64Array(c)
      const variance = new Float64Array(c)
      for (let i = 0; i < pixels; i++) for (let k = 0; k < c; k++) mean[k] += batch.features[i * c + k] / pixels
      for (let i = 0; i < pixels; i++) for (let k = 0; k < c; k++) variance[k] += (batch.features[i * c + k] - mean[k]) ** 2 / pixels
      const expected = [mean, variance].map((stat, s) => Float32Array.from(stat, (v, k) => MOMENTUM * previous[s].values[k] + (1 - MOMENTUM) * v))
      for (const m of [reference, ours]) {
        const now = moving(m)
        expected.forEach((want, s) => {
          expect(now[s].name).toMatch(s === 0 ? /bn_in.*moving_mean/ : /bn_in.*moving_variance/)
          const error = relativeError(
            now[s].values.map((v, k) => v - previous[s].values[k]),
            want.map((v, k) => v - previous[s].values[k])
          )
          worst = Math.max(worst, error)
          expect(error, `${now[s].name} after step ${step + 1}`).toBeLessThan(1e-4)
        })
        // The second layer's statistics moved too (their values depend on the convolution).
        expect(relativeError(now[2].values, previous[2].values)).toBeGreaterThan(1e-6)
      }
      previous = moving(ours)
    })
    console.log(`trained statistics: worst relative difference of the moving statistics' change from Keras' formula ${worst.toExponential(2)}`)
    reference.dispose()
    ours.dispose()
  })
})

describe('scoring with the native step', () => {
  it("predict() gives the tfjs model's inference-mode probabilities after training steps, in both BatchNorm modes", async () => {
    for (const mode of ['frozen', 'train'] as const) {
      const m = model(mode)
      const trainer = await NativeTrainer.create(suffixOfModel(m), SETTING, 2, { batchNorm: mode === 'train' ? 'batch' : 'frozen' })
      if (typeof trainer === 'string') throw new Error(trainer)
      const [first, second, probe] = batches(3)
      await trainer.step(first.features, first.labels)
      await trainer.step(second.features, second.labels)
      const ours = await trainer.predict(probe.features, BATCH)
      trainer.writeBack()
      const x = tf.tensor(probe.features, [BATCH, ...SHAPE])
      const expected = m.predict(x) as tf.Tensor
      expect(relativeError(ours, expected.dataSync()), mode).toBeLessThan(1e-5)
      tf.dispose([x, expected])
      await trainer.close()
      m.dispose()
    }
  })
})
