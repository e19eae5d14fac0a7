// TensorFlow 2 Keras runs a frozen BatchNormalization layer in inference mode: it normalises with
// its moving statistics and never updates them. TensorFlow.js (4.22) still uses batch statistics
// and updates the moving mean and variance of a frozen layer during training. We give every
// BatchNormalization layer the TF2 behaviour by overriding `call` on the instance: the saved
// model is unchanged (still a plain BatchNormalization), only training behaves as in Keras.
// A trainable one follows the run's choice (TrainConfig.batchNormStatistics): inference mode too
// when its statistics stay frozen, tfjs's training mode when they train.
import type * as tf from '@tensorflow/tfjs'

type Kwargs = Record<string, unknown>
type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | tf.Tensor[]

/** How an unfrozen BatchNormalization layer normalises during training (TrainConfig.batchNormStatistics). */
export type BatchNormStatistics = 'frozen' | 'train'

const PATCHED = Symbol('frozen-batchnorm')
const STATISTICS = Symbol('batchnorm-statistics')

interface Patched {
  call: Call
  [PATCHED]?: boolean
  [STATISTICS]?: BatchNormStatistics
}

export function applyKerasBatchNormSemantics(layers: Iterable<tf.layers.Layer>): void {
  for (const layer of layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue
    const target = layer as unknown as Patched
    if (target[PATCHED]) continue
    const call = target.call.bind(layer)
    // Unset, a trainable layer keeps tfjs's training mode (what a model outside a run gets).
    target.call = (inputs, kwargs) => call(inputs, layer.trainable && target[STATISTICS] !== 'frozen' ? kwargs : { ...kwargs, training: false })
    target[PATCHED] = true
  }
}

/** Sets how the (patched) trainable BatchNormalization layers among `layers` normalise in training. */
export function setBatchNormStatistics(layers: Iterable<tf.layers.Layer>, mode: BatchNormStatistics): void {
  for (const layer of layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue
    const target = layer as unknown as Patched
    if (!target[PATCHED]) applyKerasBatchNormSemantics([layer])
    target[STATISTICS] = mode
  }
}
