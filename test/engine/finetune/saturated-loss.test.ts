// A model confidently wrong about every photo of a batch (the true class's probability far below
// 1e-7). Keras differentiates categorical_crossentropy from the softmax's logits, so the gradient
// is (p - t) / batch and the step moves the weights; tfjs-layers' clipped loss gives a zero
// gradient there, which left one fine-tuning seed of `npm run bench -- finetune` stuck at the
// majority class for every epoch. Both training steps are checked against tfjs's own
// softmaxCrossEntropy on logits, differentiated by tf.grads on the cpu backend.
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { suffixOfModel } from '../../../src/engine/finetune/build'
import { NativeTrainer } from '../../../src/engine/finetune/runner'
import { makeOptimizer } from '../../../src/engine/train/optimizer'
import type { Partition } from '../../../src/engine/train/partition'
import { trainableVariables, trainStep } from '../../../src/engine/train/step'
import { seededRandom } from '../../../src/engine/util/random'
import { randomArray, randomiseWeights, relativeError } from './reference'

const BATCH = 4
const CLASSES = 3
const SHAPE = [7, 7, 4]
const LR = 0.1

beforeAll(async () => {
  await tf.setBackend('cpu')
})

/** A convolution, ReLU, global pooling and a Dense classifier whose bias makes class 0 certain. */
function confidentModel(activation: 'softmax' | 'linear', certainty = 60): tf.LayersModel {
  const x = tf.input({ shape: SHAPE })
  let y = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'conv' }).apply(x) as tf.SymbolicTensor
  y = tf.layers.reLU({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.dense({ units: CLASSES, activation, name: 'classifier' }).apply(y) as tf.SymbolicTensor
  const model = tf.model({ inputs: x, outputs: y })
  randomiseWeights(model, 3)
  const dense = model.getLayer('classifier')
  const [kernel] = dense.getWeights()
  dense.setWeights([kernel, tf.tensor1d([certainty, 0, 0])])
  return model
}

/** The weights after one SGD step on the loss from logits, computed by tfjs itself. */
function referenceStep(x: tf.Tensor, labels: Int32Array): { weights: Float32Array[]; loss: number } {
  const model = confidentModel('linear')
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable)
  const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES)
  const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(oneHot, model.apply(x) as tf.Tensor) as tf.Scalar, variables)
  const weights = variables.map((v) => v.sub(grads[v.name].mul(LR)).dataSync() as Float32Array)
  return { weights, loss: value.dataSync()[0] }
}

describe('a confidently wrong model still learns', () => {
  const random = seededRandom(9)
  const features = randomArray(BATCH * SHAPE.reduce((a, b) => a * b), random, 1, 1)
  const labels = Int32Array.from({ length: BATCH }, (_, i) => 1 + (i % 2))

  it('the true class is far below the clip in this batch (the old loss had no gradient here)', () => {
    const model = confidentModel('softmax')
    const p = (model.predict(tf.tensor(features, [BATCH, ...SHAPE])) as tf.Tensor).arraySync() as number[][]
    labels.forEach((label, i) => expect(p[i][label]).toBeLessThan(1e-12))
  })

  it('the native step moves the weights as the loss from logits does', async () => {
    const expected = referenceStep(tf.tensor(features, [BATCH, ...SHAPE]), labels)
    const initial = confidentModel('softmax')
    const before = initial.trainableWeights.map((w) => w.read().dataSync().slice())
    const trainer = await NativeTrainer.create(suffixOfModel(initial), { optimizer: 'sgd', learningRate: LR, momentum: 0 }, 2)
    if (typeof trainer === 'string') throw new Error(trainer)
    const got = await trainer.step(features, labels)
    expect(Math.abs(got.loss - expected.loss) / expected.loss).toBeLessThan(1e-5)
    expect(got.loss).toBeGreaterThan(50)
    trainer.getWeights().forEach(({ variable, values }, i) => {
      const moved = Float32Array.from(expected.weights[i], (v, k) => v - before[i][k])
      expect(Math.max(...moved.map(Math.abs)), variable.name).toBeGreaterThan(1e-3)
      expect(
        relativeError(
          Float32Array.from(values, (v, k) => v - before[i][k]),
          moved
        ),
        variable.name
      ).toBeLessThan(1e-4)
    })
    await trainer.close()
  })

  for (const replayed of [false, true]) {
    it(`the tfjs step does too${replayed ? ", on layers another model shares (as a partition's suffix does)" : ''}`, () => {
      const expected = referenceStep(tf.tensor(features, [BATCH, ...SHAPE]), labels)
      const model = replayed ? replay(confidentModel('softmax')) : confidentModel('softmax')
      const before = model.trainableWeights.map((w) => w.read().dataSync().slice())
      const part = { suffix: model } as Partition
      const optimizer = makeOptimizer({ optimizer: 'sgd', learningRate: LR, momentum: 0 })
      const x = tf.tensor(features, [BATCH, ...SHAPE])
      const got = trainStep(part, optimizer, trainableVariables(part), x, labels, CLASSES)
      expect(Math.abs(got.loss - expected.loss) / expected.loss).toBeLessThan(1e-5)
      expect(got.right).toBe(0)
      model.trainableWeights.forEach((w, i) => {
        const moved = Float32Array.from(expected.weights[i], (v, k) => v - before[i][k])
        expect(
          relativeError(
            Float32Array.from(w.read().dataSync(), (v, k) => v - before[i][k]),
            moved
          ),
          w.name
        ).toBeLessThan(1e-4)
      })
    })
  }
})

describe('a model right with certainty', () => {
  // Logits 80 apart: p - t is about 1e-35 for the other classes, and the gradients behind it sink
  // into subnormal floats (below 1.2e-38), each computed far slower than a normal float.
  const features = randomArray(BATCH * SHAPE.reduce((a, b) => a * b), seededRandom(4), 1, 1)
  const labels = new Int32Array(BATCH)

  it('passes exact zeros back from those photos, not subnormal gradients', async () => {
    const model = confidentModel('softmax', 80)
    const trainer = await NativeTrainer.create(suffixOfModel(model), { optimizer: 'sgd', learningRate: LR, momentum: 0.9 }, 2)
    if (typeof trainer === 'string') throw new Error(trainer)
    // onnxruntime's softmax: the other classes near 1e-35, normal floats; the gradients behind them would not be.
    const p = await trainer.predict(features, BATCH)
    for (let row = 0; row < BATCH; row++) {
      expect(p[row * CLASSES + 1]).toBeGreaterThan(1e-38)
      expect(p[row * CLASSES + 1]).toBeLessThan(1e-30)
    }
    const got = await trainer.step(features, labels)
    expect(got.right).toBe(BATCH)
    // SGD's momentum after one step is the gradient itself.
    const [, ...momenta] = trainer.optimizerWeights()
    expect(momenta).toHaveLength(4)
    for (const { name, tensor } of momenta) expect(Math.max(...Array.from(tensor.dataSync(), Math.abs)), name).toBe(0)
    await trainer.close()
  })
})

/** The model's layers applied again to a new input: each then has a node in both graphs. */
function replay(model: tf.LayersModel): tf.LayersModel {
  const input = tf.input({ shape: SHAPE })
  let y: tf.SymbolicTensor = input
  for (const layer of model.layers.slice(1)) y = layer.apply(y) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: y })
}
