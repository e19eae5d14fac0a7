// Seeded dropout on the native step: the same seed gives the same weights step by step, another
// seed other weights, and a run stopped after two steps and resumed (weights and optimizer state
// restored into a new trainer) gives exactly the unbroken run's weights.
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { suffixOfModel } from '../../../src/engine/finetune/build'
import { NativeTrainer } from '../../../src/engine/finetune/runner'
import { seededRandom } from '../../../src/engine/util/random'
import { randomArray, randomiseWeights } from './reference'

const BATCH = 4
const SHAPE = [7, 7, 4]
const SETTING = { optimizer: 'adam', learningRate: 0.01, momentum: 0 } as const

beforeAll(async () => {
  await tf.setBackend('cpu')
})

function model(): tf.LayersModel {
  const x = tf.input({ shape: SHAPE })
  let y = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor
  y = tf.layers.dropout({ rate: 0.4 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.dropout({ rate: 0.5 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.dense({ units: 2, activation: 'softmax' }).apply(y) as tf.SymbolicTensor
  const m = tf.model({ inputs: x, outputs: y })
  randomiseWeights(m, 5)
  return m
}

const random = seededRandom(8)
const BATCHES = Array.from({ length: 4 }, () => ({
  features: randomArray(BATCH * SHAPE.reduce((a, b) => a * b), random, 2, 1),
  labels: Int32Array.from({ length: BATCH }, (_, i) => i % 2)
}))

async function trainer(m: tf.LayersModel, seed: number): Promise<NativeTrainer> {
  const made = await NativeTrainer.create(suffixOfModel(m), SETTING, 2, { seed })
  if (typeof made === 'string') throw new Error(made)
  return made
}

const weights = (t: NativeTrainer) => t.getWeights().map((w) => Array.from(w.values))

describe('seeded dropout on the native step', () => {
  it('same seed, same weights; another seed, other weights; resumed equals unbroken', async () => {
    const runs = await Promise.all([model(), model(), model()].map((m, i) => trainer(m, i === 2 ? 8 : 7)))
    const after: number[][][][] = [[], [], []]
    for (const batch of BATCHES) {
      for (const [i, t] of runs.entries()) {
        await t.step(batch.features, batch.labels)
        after[i].push(weights(t))
      }
    }
    after[0].forEach((w, step) => expect(w, `step ${step + 1}`).toEqual(after[1][step]))
    expect(after[2][0]).not.toEqual(after[0][0])

    // Stopped after two steps: the model gets the weights, a new trainer the optimizer state.
    const stopped = model()
    const first = await trainer(stopped, 7)
    for (const batch of BATCHES.slice(0, 2)) await first.step(batch.features, batch.labels)
    first.writeBack()
    const state = first.optimizerWeights()
    await first.close()
    const resumed = await trainer(stopped, 7)
    resumed.setOptimizerWeights(state)
    tf.dispose(state.map((s) => s.tensor))
    for (const batch of BATCHES.slice(2)) await resumed.step(batch.features, batch.labels)
    expect(weights(resumed)).toEqual(after[0][3])
    await resumed.close()
    for (const t of runs) await t.close()
  })
})
