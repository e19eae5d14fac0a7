// Whole training steps on onnxruntime against the same steps on tfjs's cpu backend with the
// project's own optimizers and loss: the weights after every step, the loss and the correct count.
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { suffixOfModel } from '../../../src/engine/finetune/build'
import { nchwcBlock } from '../../../src/engine/finetune/nchwc'
import { NativeTrainer, type RunnerOptions } from '../../../src/engine/finetune/runner'
import { categoricalCrossentropy, countCorrect } from '../../../src/engine/train/loss'
import { makeOptimizer } from '../../../src/engine/train/optimizer'
import type { Partition } from '../../../src/engine/train/partition'
import { trainableVariables, trainStep } from '../../../src/engine/train/step'
import { seededRandom } from '../../../src/engine/util/random'
import { ort, randomArray, randomiseWeights, relativeError } from './reference'

const BATCH = 6
const CLASSES = 3
const SHAPE = [15, 15, 8]

beforeAll(async () => {
  await tf.setBackend('cpu')
})

/** MobileNet v1's block and head in small: depthwise, BN, ReLU6, pointwise, BN, ReLU6, GAP, Dense softmax. */
function smallModel(shape = SHAPE, filters = 12): tf.LayersModel {
  const x = tf.input({ shape })
  let y = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor
  y = tf.layers.batchNormalization({ epsilon: 1e-3 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false }).apply(y) as tf.SymbolicTensor
  y = tf.layers.batchNormalization({ epsilon: 1e-3 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(y) as tf.SymbolicTensor
  return tf.model({ inputs: x, outputs: y })
}

/** tfjs's step with BatchNorm statistics frozen (inference mode), as the native graph trains. */
function tfjsStep(model: tf.LayersModel, optimizer: tf.Optimizer, x: tf.Tensor, labels: Int32Array) {
  let right = 0
  const loss = tf.tidy(() => {
    const target = tf.tensor1d(labels, 'int32')
    const oneHot = tf.oneHot(target, CLASSES)
    const cost = optimizer.minimize(
      () => {
        const p = model.apply(x, { training: false }) as tf.Tensor
        right = countCorrect(target, p).dataSync()[0]
        return categoricalCrossentropy(oneHot, p)
      },
      true,
      model.trainableWeights.map((w) => w.read() as tf.Variable)
    )!
    return cost.dataSync()[0]
  })
  return { loss, right }
}

const settings = [
  { optimizer: 'adam', learningRate: 0.01, momentum: 0 },
  { optimizer: 'rmsprop', learningRate: 0.01, momentum: 0 },
  { optimizer: 'sgd', learningRate: 0.1, momentum: 0.9 },
  { optimizer: 'sgd', learningRate: 0.1, momentum: 0 },
  { optimizer: 'sgd', learningRate: 0.1, momentum: 0.9, nesterov: true }
] as const

/** makeOptimizer() offers no Nesterov momentum (yet): tfjs's own for that case. */
const tfjsOptimizer = (setting: (typeof settings)[number]) =>
  'nesterov' in setting ? tf.train.momentum(setting.learningRate, setting.momentum, true) : makeOptimizer(setting)

/** Five steps of `setting` on the native graph and on tfjs cpu: the loss, the correct count and the weights after each. */
async function expectSameSteps(setting: (typeof settings)[number], shape = SHAPE, options: RunnerOptions = {}, filters = 12) {
  const reference = smallModel(shape, filters)
  const ours = smallModel(shape, filters)
  randomiseWeights(reference, 7)
  randomiseWeights(ours, 7)
  const trainer = await NativeTrainer.create(suffixOfModel(ours), setting, 2, options)
  if (typeof trainer === 'string') throw new Error(trainer)
  if (options.maxBatch !== undefined) expect(trainer.description).toMatch(/blocked kernels/)
  const optimizer = tfjsOptimizer(setting)
  const random = seededRandom(11)
  const initial = reference.trainableWeights.map((w) => w.read().dataSync().slice())
  let worst = 0
  for (let step = 0; step < 5; step++) {
    const features = randomArray(BATCH * shape.reduce((a, b) => a * b), random, 3)
    const labels = Int32Array.from({ length: BATCH }, () => Math.floor(random() * CLASSES))
    const x = tf.tensor(features, [BATCH, ...shape])
    const expected = tfjsStep(reference, optimizer, x, labels)
    x.dispose()
    const got = await trainer.step(features, labels)
    expect(got.right).toBe(expected.right)
    expect(Math.abs(got.loss - expected.loss) / expected.loss).toBeLessThan(1e-5)
    const weights = trainer.getWeights()
    weights.forEach(({ variable, values }, i) => {
      const want = reference.trainableWeights[i].read().dataSync()
      expect(variable.originalName.split('/').at(-1)).toBe(reference.trainableWeights[i].originalName.split('/').at(-1))
      // Relative to how far the weights moved: the optimizer's own arithmetic, not the weights' size, is compared.
      const moved = Float32Array.from(want, (v, k) => v - initial[i][k])
      const ourMove = Float32Array.from(values, (v, k) => v - initial[i][k])
      const error = relativeError(ourMove, moved)
      worst = Math.max(worst, error)
      expect(error, `${variable.originalName} after step ${step + 1}`).toBeLessThan(1e-4)
    })
  }
  console.log(`${setting.optimizer} m${setting.momentum}: worst relative difference of the weights' change over 5 steps ${worst.toExponential(2)}`)
  trainer.writeBack()
  ours.trainableWeights.forEach((w, i) => expect(relativeError(w.read().dataSync(), reference.trainableWeights[i].read().dataSync())).toBeLessThan(1e-5))
  await trainer.close()
  optimizer.dispose()
  reference.dispose()
  ours.dispose()
}

describe('native training steps equal tfjs cpu steps', () => {
  for (const setting of settings) {
    it(`${setting.optimizer} (lr ${setting.learningRate}, momentum ${setting.momentum}${'nesterov' in setting ? ', Nesterov' : ''}): five steps, the same weights after each`, async () => {
      await expectSameSteps(setting)
    })
  }

  it("adam with the depthwise and 1x1 layers on onnxruntime's blocked kernels (NCHWc), every batch shorter than the largest", async (context) => {
    const block = await nchwcBlock(await ort())
    if (block === null) return context.skip()
    await expectSameSteps(settings[0], [15, 15, 2 * block], { maxBatch: BATCH + 2 }, block)
  })

  for (const blocked of [false, true]) {
    it(`several batches in one run equal one run a batch, bit for bit (mixed sizes, dropout, batch statistics${blocked ? ', blocked kernels' : ''})`, async (context) => {
      const block = blocked ? await nchwcBlock(await ort()) : null
      if (blocked && block === null) return context.skip()
      const shape = block ? [15, 15, 2 * block] : SHAPE
      const withDropout = () => {
        const base = smallModel(shape, block ?? 12)
        const pooled = base.layers.find((l) => l.getClassName() === 'GlobalAveragePooling2D')!.output as tf.SymbolicTensor
        const dropped = tf.layers.dropout({ rate: 0.3 }).apply(pooled) as tf.SymbolicTensor
        const head = tf.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(dropped) as tf.SymbolicTensor
        const model = tf.model({ inputs: base.inputs, outputs: head })
        randomiseWeights(model, 29)
        return model
      }
      const [one, many] = [withDropout(), withDropout()]
      const options: RunnerOptions = { batchNorm: 'batch', seed: 3, ...(block ? { maxBatch: BATCH } : {}) }
      const a = await NativeTrainer.create(suffixOfModel(one), settings[0], 2, options)
      const b = await NativeTrainer.create(suffixOfModel(many), settings[0], 2, options)
      if (typeof a === 'string' || typeof b === 'string') throw new Error('onnxruntime unavailable')
      const random = seededRandom(31)
      // Runs of three, one (the short batch) and two batches.
      const batches = [BATCH, BATCH, BATCH, BATCH - 2, BATCH, BATCH].map((count) => ({
        features: randomArray(count * shape.reduce((x, y) => x * y), random, 3),
        labels: Int32Array.from({ length: count }, () => Math.floor(random() * CLASSES))
      }))
      const each = []
      for (const batch of batches) each.push(await a.step(batch.features, batch.labels))
      const together = await b.steps(batches)
      expect(together).toEqual(each)
      expect(b.iterations).toBe(6)
      const [left, right] = [a.getWeights(), b.getWeights()]
      right.forEach(({ values }, i) => expect(values).toEqual(left[i].values))
      const [stateA, stateB] = [a.optimizerWeights(), b.optimizerWeights()]
      stateB.forEach((entry, i) => expect(entry.tensor.dataSync()).toEqual(stateA[i].tensor.dataSync()))
      a.writeBack()
      b.writeBack()
      // The moving statistics too (BatchNorm's, written back with the weights).
      many.weights.forEach((w, i) => expect(w.read().dataSync()).toEqual(one.weights[i].read().dataSync()))
      tf.dispose([...stateA, ...stateB].map((e) => e.tensor))
      await a.close()
      await b.close()
      one.dispose()
      many.dispose()
    })
  }

  it('saves its optimizer state as tfjs does (names, order, values), and a resumed run equals an unbroken one', async () => {
    const setting = settings[0]
    const random = seededRandom(5)
    const batches = Array.from({ length: 4 }, () => ({
      features: randomArray(BATCH * SHAPE.reduce((a, b) => a * b), random, 3),
      labels: Int32Array.from({ length: BATCH }, () => Math.floor(random() * CLASSES))
    }))
    const reference = smallModel()
    const unbroken = smallModel()
    const resumed = smallModel()
    for (const model of [reference, unbroken, resumed]) randomiseWeights(model, 9)
    const optimizer = makeOptimizer(setting)
    const a = await NativeTrainer.create(suffixOfModel(unbroken), setting, 2)
    const b = await NativeTrainer.create(suffixOfModel(resumed), setting, 2)
    if (typeof a === 'string' || typeof b === 'string') throw new Error('onnxruntime unavailable')
    for (const batch of batches.slice(0, 2)) {
      const x = tf.tensor(batch.features, [BATCH, ...SHAPE])
      tfjsStep(reference, optimizer, x, batch.labels)
      x.dispose()
      await a.step(batch.features, batch.labels)
      await b.step(batch.features, batch.labels)
    }
    // The state after two steps, against the tfjs optimizer's own.
    const ours = b.optimizerWeights()
    const theirs = await optimizer.getWeights()
    expect(ours.length).toBe(theirs.length)
    ours.forEach((entry, i) => {
      expect(entry.name.split('/').at(-1)).toBe(theirs[i].name.split('/').at(-1))
      expect(entry.tensor.shape).toEqual(theirs[i].tensor.shape)
      if (i === 0) expect(entry.tensor.dataSync()[0]).toBe(theirs[0].tensor.dataSync()[0])
      else expect(relativeError(entry.tensor.dataSync(), theirs[i].tensor.dataSync())).toBeLessThan(1e-4)
    })
    // Stop: weights into the tfjs model, the state kept; a new trainer continues from both.
    b.writeBack()
    await b.close()
    const continued = await NativeTrainer.create(suffixOfModel(resumed), setting, 2)
    if (typeof continued === 'string') throw new Error(continued)
    continued.setOptimizerWeights(ours)
    expect(continued.iterations).toBe(2)
    for (const batch of batches.slice(2)) {
      const one = await a.step(batch.features, batch.labels)
      const two = await continued.step(batch.features, batch.labels)
      expect(two).toEqual(one)
    }
    const left = a.getWeights()
    continued.getWeights().forEach(({ values }, i) => expect(values).toEqual(left[i].values))
    expect(() => continued.setOptimizerWeights(ours.slice(1))).toThrow(/needs/)
    tf.dispose([...ours.map((o) => o.tensor), ...theirs.map((t) => t.tensor)])
    await a.close()
    await continued.close()
    optimizer.dispose()
    for (const model of [reference, unbroken, resumed]) model.dispose()
  })

  it('BatchNormalization with batch statistics: five Adam steps equal trainStep() itself, weights and moving statistics after each', async () => {
    const setting = settings[0]
    const reference = smallModel()
    const ours = smallModel()
    randomiseWeights(reference, 13)
    randomiseWeights(ours, 13)
    const trainer = await NativeTrainer.create(suffixOfModel(ours), setting, 2, { batchNorm: 'batch' })
    if (typeof trainer === 'string') throw new Error(trainer)
    const optimizer = makeOptimizer(setting)
    const part = { suffix: reference } as unknown as Partition
    const variables = trainableVariables(part)
    const random = seededRandom(17)
    const initial = reference.weights.map((w) => w.read().dataSync().slice())
    let worst = 0
    for (let step = 0; step < 5; step++) {
      const features = randomArray(BATCH * SHAPE.reduce((a, b) => a * b), random, 3)
      const labels = Int32Array.from({ length: BATCH }, () => Math.floor(random() * CLASSES))
      const x = tf.tensor(features, [BATCH, ...SHAPE])
      const expected = trainStep(part, optimizer, variables, x, labels, CLASSES)
      x.dispose()
      const got = await trainer.step(features, labels)
      expect(got.right).toBe(expected.right)
      expect(Math.abs(got.loss - expected.loss) / expected.loss).toBeLessThan(1e-5)
      trainer.writeBack()
      reference.weights.forEach((w, i) => {
        const name = w.originalName.split('/').at(-1)!
        expect(ours.weights[i].originalName.split('/').at(-1)).toBe(name)
        const want = Float32Array.from(w.read().dataSync(), (v, k) => v - initial[i][k])
        const have = Float32Array.from(ours.weights[i].read().dataSync(), (v, k) => v - initial[i][k])
        const error = relativeError(have, want)
        worst = Math.max(worst, error)
        expect(error, `${w.originalName} after step ${step + 1}`).toBeLessThan(1e-4)
      })
    }
    expect(trainer.getWeights().length).toBeLessThan(reference.weights.length) // the moving statistics were compared too
    console.log(`batch statistics, adam: worst relative difference of the weights' and moving statistics' change over 5 steps ${worst.toExponential(2)}`)
    await trainer.close()
    optimizer.dispose()
    reference.dispose()
    ours.dispose()
  })

  it("scores a named layer's output with its current weights, and takes weights restored in the tfjs model back", async () => {
    const model = smallModel()
    randomiseWeights(model, 21)
    const pool = model.layers.find((l) => l.getClassName() === 'GlobalAveragePooling2D')!
    const upToPool = tf.model({ inputs: model.inputs, outputs: pool.output as tf.SymbolicTensor })
    const trainer = await NativeTrainer.create(suffixOfModel(model), settings[0], 2)
    if (typeof trainer === 'string') throw new Error(trainer)
    const random = seededRandom(23)
    const features = randomArray(BATCH * SHAPE.reduce((a, b) => a * b), random, 3)
    const x = tf.tensor(features, [BATCH, ...SHAPE])
    const before = model.getWeights().map((w) => w.clone())
    const pooledBefore = (upToPool.predict(x) as tf.Tensor).dataSync()
    // Scored before the step, then after it: the scoring session is fed the weights of the moment.
    expect(relativeError(await trainer.predict(features, BATCH, pool.name), pooledBefore)).toBeLessThan(1e-5)
    await trainer.step(
      features,
      Int32Array.from({ length: BATCH }, (_, i) => i % CLASSES)
    )
    trainer.writeBack()
    // The trained weights, on both engines.
    const pooled = await trainer.predict(features, BATCH, pool.name)
    expect(pooled.length).toBe(BATCH * 12)
    expect(relativeError(pooled, (upToPool.predict(x) as tf.Tensor).dataSync())).toBeLessThan(1e-5)
    expect(relativeError(pooled, pooledBefore)).toBeGreaterThan(1e-4)
    // A best epoch restored into the tfjs model: the trainer scores it after readFromModel().
    model.setWeights(before)
    trainer.readFromModel()
    expect(relativeError(await trainer.predict(features, BATCH, pool.name), pooledBefore)).toBeLessThan(1e-5)
    const probabilities = await trainer.predict(features, BATCH)
    expect(relativeError(probabilities, (model.predict(x) as tf.Tensor).dataSync())).toBeLessThan(1e-5)
    await trainer.close()
    tf.dispose([x, ...before])
    model.dispose()
  })
})
