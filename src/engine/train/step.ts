// One training step of the trainable suffix: forward, loss, gradients and the optimizer's update.
// The training loop and the learning-rate finder both go through here.
import * as tf from '@tensorflow/tfjs'
import { categoricalCrossentropy, countCorrect, crossentropyFromLogits, logitsModel } from './loss'
import { setLearningRate } from './optimizer'
import type { Partition } from './partition'

const logitsOf = new WeakMap<tf.LayersModel, ReturnType<typeof logitsModel>>()

/** One optimizer step on the suffix; returns the batch's mean loss and correct count. */
export function trainStep(part: Partition, optimizer: tf.Optimizer, trainable: tf.Variable[], x: tf.Tensor, labels: Int32Array, classCount: number) {
  if (!logitsOf.has(part.suffix)) logitsOf.set(part.suffix, logitsModel(part.suffix))
  const logits = logitsOf.get(part.suffix)!
  let right = 0
  const loss = tf.tidy(() => {
    const target = tf.tensor1d(labels, 'int32')
    const oneHot = tf.oneHot(target, classCount)
    const cost = optimizer.minimize(
      () => {
        if (logits) {
          const z = logits(x, true)
          right = countCorrect(target, z).dataSync()[0]
          return crossentropyFromLogits(oneHot, z)
        }
        // A model that does not end in a softmax (a Keras file's own head): Keras' clipped loss.
        const probabilities = part.suffix.apply(x, { training: true }) as tf.Tensor
        right = countCorrect(target, probabilities).dataSync()[0]
        return categoricalCrossentropy(oneHot, probabilities)
      },
      true,
      trainable
    )!
    return cost.dataSync()[0]
  })
  return { loss, right }
}

/** The suffix's trainable variables, in the order the optimizer's state is saved. */
export function trainableVariables(part: Partition): tf.Variable[] {
  return part.suffix.trainableWeights.map((w) => w.read() as tf.Variable)
}

/** An optimizer's state as tf.Optimizer.getWeights() lists it (what run-state.ts saves). */
export type NamedTensor = { name: string; tensor: tf.Tensor }

export interface StepBatch {
  x: tf.Tensor
  labels: Int32Array
}

/**
 * What the training loop needs from whatever trains the suffix: the seam where the native
 * (onnxruntime) step sits beside tfjs's. The tfjs model stays the one that is scored and saved,
 * so sync() must run before anything reads its weights.
 */
export interface TrainingStep {
  /** Which engine trains the unfrozen layers, for the user. */
  readonly description: string
  /** One optimizer step on a batch (the loop disposes `x`); the batch's mean loss and correct count. */
  run(x: tf.Tensor, labels: Int32Array): Promise<{ loss: number; right: number }>
  /**
   * One optimizer step a batch, in order, as run() on each, where taking them together is cheaper
   * (absent: the loop calls run()). The loop disposes the batches.
   */
  runMany?(batches: readonly StepBatch[]): Promise<{ loss: number; right: number }[]>
  /** How many batches the loop hands runMany() at a time (1 without it). */
  readonly batchesPerRun?: number
  setLearningRate(lr: number): void
  /** Makes the tfjs model's weights current (before scoring, checkpoints, saving). */
  sync(): void
  /** Takes the tfjs model's weights, where something else wrote them (a restored best epoch); absent when the step trains them in place. */
  reload?(): void
  /**
   * Whether run(), runMany(), predict and layerOutput take RGB values 0..255 (a source's `pixels`
   * batches) because the step's own graphs preprocess them; absent: the suffix's input.
   */
  readonly takesPixels?: boolean
  /** Scores with the current weights on the step's own engine, when it has one faster than the tfjs model (absent: score the tfjs model). */
  readonly predict?: (x: tf.Tensor) => Promise<tf.Tensor>
  /** A layer's output (rank 1 a row) with the current weights, on the step's own engine (absent: the tfjs model). */
  readonly layerOutput?: (x: tf.Tensor, layer: string) => Promise<tf.Tensor>
  /**
   * The optimizer state as new tensors the caller disposes. They may share memory with the step's
   * own state (the native step's do): read them before the next step.
   */
  optimizerWeights(): Promise<NamedTensor[]>
  /** Continues from a saved state (the caller still owns `list`). */
  setOptimizerWeights(list: readonly NamedTensor[]): Promise<void>
  close(): Promise<void>
}

/** The reference step: gradients by tfjs on the training backend, weights in the tfjs variables. */
export class TfjsStep implements TrainingStep {
  readonly description: string
  private readonly trainable: tf.Variable[]
  constructor(
    private readonly part: Partition,
    private readonly optimizer: tf.Optimizer,
    private readonly classCount: number,
    backend: string
  ) {
    this.trainable = trainableVariables(part)
    this.description = `TensorFlow.js (${backend} backend)`
  }

  run(x: tf.Tensor, labels: Int32Array): Promise<{ loss: number; right: number }> {
    return Promise.resolve(trainStep(this.part, this.optimizer, this.trainable, x, labels, this.classCount))
  }

  setLearningRate(lr: number): void {
    setLearningRate(this.optimizer, lr)
  }

  sync(): void {}

  async optimizerWeights(): Promise<NamedTensor[]> {
    const list = await this.optimizer.getWeights()
    // getWeights() hands out the optimizer's own variables (plus a fresh iteration scalar): copy
    // them so every caller owns what it gets.
    return list.map(({ name, tensor }) => ({ name, tensor: tensor instanceof tf.Variable ? tensor.clone() : tensor }))
  }

  async setOptimizerWeights(list: readonly NamedTensor[]): Promise<void> {
    // setWeights() keeps the tensors it is given as its variables' values: hand it copies.
    await this.optimizer.setWeights(list.map(({ name, tensor }) => ({ name, tensor: tensor.clone() })))
  }

  close(): Promise<void> {
    this.optimizer.dispose()
    return Promise.resolve()
  }
}
