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

/**
 * preprocess() on RGB values 0..255 (channels last) in one pass over the array, the same float32
 * numbers bit for bit: each step is rounded to float32 as the tensor ops round it. The tensor ops
 * on tfjs's cpu backend made a batch of 32 images at 224x224 take ~350 ms (3-4 s of an epoch
 * that trains every layer on the native step, measured).
 */
export function preprocessPixels(pixels: Uint8Array | Float32Array, mode: PreprocessMode): Float32Array {
  const out = new Float32Array(pixels.length)
  const f = Math.fround
  const channelwise = (at: (v: number, c: number) => number, bgr = false) => {
    for (let i = 0; i < pixels.length; i += 3) {
      for (let c = 0; c < 3; c++) out[i + c] = at(pixels[i + (bgr ? 2 - c : c)], c)
    }
  }
  switch (mode) {
    case 'tf':
      for (let i = 0; i < pixels.length; i++) out[i] = f(pixels[i] / 127.5) - 1
      break
    case 'caffe': {
      const mean = CAFFE_BGR_MEAN.map(f)
      channelwise((v, c) => v - mean[c], true)
      break
    }
    case 'torch': {
      const [mean, std] = [TORCH_MEAN.map(f), TORCH_STD.map(f)]
      channelwise((v, c) => f(f(v / 255) - mean[c]) / std[c])
      break
    }
    case 'unit':
      for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255
      break
    case 'raw':
      out.set(pixels)
      break
  }
  return out
}
