import * as tf from '@tensorflow/tfjs'

// Keras clips probabilities to [epsilon, 1 - epsilon] before the log (backend.epsilon() = 1e-7).
const EPSILON = 1e-7

/** Keras' categorical_crossentropy on softmax outputs, averaged over the batch: the loss scores report. */
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

/**
 * The same loss from the softmax's input, averaged over the batch: what training differentiates.
 * Keras does this for a softmax output (its categorical_crossentropy finds the logits behind the
 * Softmax op); its gradient (p - t) / batch never vanishes, while the clipped form's is zero for a
 * photo the model is confidently wrong about, so a run whose first steps saturate stays stuck
 * (docs/adr/0009).
 */
export function crossentropyFromLogits(oneHot: tf.Tensor, logits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => oneHot.mul(tf.logSoftmax(logits)).sum(-1).neg().mean() as tf.Scalar)
}

/** How many rows' most probable class is the true one. */
export function countCorrect(labels: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  return tf.tidy(() => probabilities.argMax(-1).equal(labels.toInt()).sum() as tf.Scalar)
}

/**
 * The model's forward pass up to its final softmax's input, when it ends in one (a Dense layer
 * with a softmax activation, or an Activation('softmax') layer); null otherwise. Shares the
 * model's layers and weights, so it must not be disposed on its own.
 */
export function logitsModel(model: tf.LayersModel): ((x: tf.Tensor, training: boolean) => tf.Tensor) | null {
  const last = model.layers.at(-1)!
  const config = last.getConfig() as { activation?: string }
  if (config.activation !== 'softmax' || model.outputs.length !== 1) return null
  // A partition's suffix replays the full model's layers, so the last layer has a node in each
  // graph: the one whose output is this model's output has this model's logits as input.
  const node = last.inboundNodes.findIndex((_, k) => last.getOutputAt(k) === model.outputs[0])
  if (node < 0) return null
  const body = tf.model({ inputs: model.inputs, outputs: last.getInputAt(node) as tf.SymbolicTensor })
  if (last.getClassName() === 'Activation') return (x, training) => body.apply(x, { training }) as tf.Tensor
  if (last.getClassName() !== 'Dense') return null
  const [kernel, bias] = ['kernel', 'bias'].map((name) => last.weights.find((w) => w.originalName.split('/').at(-1) === name))
  if (!kernel) return null
  return (x, training) => {
    const h = body.apply(x, { training }) as tf.Tensor
    const z = tf.matMul(h as tf.Tensor2D, kernel.read() as tf.Tensor2D)
    return bias ? z.add(bias.read()) : z
  }
}
