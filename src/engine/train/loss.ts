import * as tf from '@tensorflow/tfjs'

// Keras clips probabilities to [epsilon, 1 - epsilon] before the log (backend.epsilon() = 1e-7).
const EPSILON = 1e-7

/** Keras' categorical_crossentropy on softmax outputs, averaged over the batch. */
export function categoricalCrossentropy(oneHot: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  return tf.tidy(
    () =>
      oneHot
        .mul(probabilities.clipByValue(EPSILON, 1 - EPSILON).log())
        .sum(-1)
        .neg()
        .mean() as tf.Scalar
  )
}

/** How many rows' most probable class is the true one. */
export function countCorrect(labels: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  return tf.tidy(() => probabilities.argMax(-1).equal(labels.toInt()).sum() as tf.Scalar)
}
