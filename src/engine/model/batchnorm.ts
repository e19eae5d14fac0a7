// TensorFlow 2 Keras runs a frozen BatchNormalization layer in inference mode: it normalises with
// its moving statistics and never updates them. TensorFlow.js (4.22) still uses batch statistics
// and updates the moving mean and variance of a frozen layer during training. We give every
// BatchNormalization layer the TF2 behaviour by overriding `call` on the instance: the saved
// model is unchanged (still a plain BatchNormalization), only training behaves as in Keras.
import type * as tf from '@tensorflow/tfjs'

type Kwargs = Record<string, unknown>
type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | tf.Tensor[]

const PATCHED = Symbol('frozen-batchnorm')

export function applyKerasBatchNormSemantics(layers: Iterable<tf.layers.Layer>): void {
  for (const layer of layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue
    const target = layer as unknown as { call: Call; [PATCHED]?: boolean }
    if (target[PATCHED]) continue
    const call = target.call.bind(layer)
    target.call = (inputs, kwargs) => call(inputs, layer.trainable ? kwargs : { ...kwargs, training: false })
    target[PATCHED] = true
  }
}
