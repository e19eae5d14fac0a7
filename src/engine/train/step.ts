// One training step of the trainable suffix: forward, loss, gradients and the optimizer's update.
// The training loop and the learning-rate finder both go through here.
import * as tf from '@tensorflow/tfjs'
import { categoricalCrossentropy, countCorrect } from './loss'
import type { Partition } from './partition'

/** One optimizer step on the suffix; returns the batch's mean loss and correct count. */
export function trainStep(part: Partition, optimizer: tf.Optimizer, trainable: tf.Variable[], x: tf.Tensor, labels: Int32Array, classCount: number) {
  let right = 0
  const loss = tf.tidy(() => {
    const target = tf.tensor1d(labels, 'int32')
    const oneHot = tf.oneHot(target, classCount)
    const cost = optimizer.minimize(
      () => {
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
