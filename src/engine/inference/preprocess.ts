// Keras' preprocess_input, one mode per backbone family. A backbone fed the wrong mode still
// runs, and quietly gets most images wrong, so the mode travels with the backbone and the model.
import * as tf from '@tensorflow/tfjs'
import type { PreprocessMode } from '../../shared/protocol'

const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68]
const TORCH_MEAN = [0.485, 0.456, 0.406]
const TORCH_STD = [0.229, 0.224, 0.225]

/** `pixels`: RGB in 0..255, channels last. */
export function preprocess(pixels: tf.Tensor, mode: PreprocessMode): tf.Tensor {
  return tf.tidy(() => {
    const x = pixels.toFloat()
    switch (mode) {
      case 'tf':
        return x.div(127.5).sub(1)
      case 'caffe':
        return x.reverse(-1).sub(tf.tensor1d(CAFFE_BGR_MEAN))
      case 'torch':
        return x.div(255).sub(tf.tensor1d(TORCH_MEAN)).div(tf.tensor1d(TORCH_STD))
      case 'unit':
        return x.div(255)
      case 'raw':
        return x
    }
  })
}
