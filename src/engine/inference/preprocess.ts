// Keras' preprocess_input, one mode per backbone family. A backbone fed the wrong mode still
// runs, and quietly gets most images wrong, so the mode travels with the backbone and the model.
import * as tf from '@tensorflow/tfjs'
import type { PreprocessMode } from '../../shared/protocol'

export const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68]
export const TORCH_MEAN = [0.485, 0.456, 0.406]
export const TORCH_STD = [0.229, 0.224, 0.225]

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
 * that trains every layer on the native step, measured). Bytes have 256 values a channel, so
 * they are looked up in a table of the 768 results. Writes into `out` when given, a buffer used
 * again: writing a fresh 19 MB array took 24 ms here (page faults), a used one 2.4 ms.
 */
export function preprocessPixels(pixels: Uint8Array | Float32Array, mode: PreprocessMode, out: Float32Array = new Float32Array(pixels.length)): Float32Array {
  if (out.length !== pixels.length) throw new Error(`preprocessPixels: ${pixels.length} values into a buffer of ${out.length}`)
  if (mode === 'raw') {
    // A native copy: the loop below took ~10x as long (a batch of 32 at 224x224: 23 against 2 ms).
    out.set(pixels)
    return out
  }
  const value = channelValue(mode)
  // The input channel each output channel reads: 'caffe' wants BGR.
  const [r, g, b] = mode === 'caffe' ? [2, 1, 0] : [0, 1, 2]
  if (pixels instanceof Uint8Array) {
    const table = Float32Array.from({ length: 768 }, (_, k) => value(k & 255, k >> 8))
    for (let i = 0; i < pixels.length; i += 3) {
      out[i] = table[pixels[i + r]]
      out[i + 1] = table[256 + pixels[i + g]]
      out[i + 2] = table[512 + pixels[i + b]]
    }
  } else {
    for (let i = 0; i < pixels.length; i += 3) {
      out[i] = value(pixels[i + r], 0)
      out[i + 1] = value(pixels[i + g], 1)
      out[i + 2] = value(pixels[i + b], 2)
    }
  }
  return out
}

/** One input value's result in output channel c, before the final rounding to float32. */
function channelValue(mode: PreprocessMode): (v: number, c: number) => number {
  const f = Math.fround
  switch (mode) {
    case 'tf':
      return (v) => f(v / 127.5) - 1
    case 'caffe': {
      const mean = CAFFE_BGR_MEAN.map(f)
      return (v, c) => v - mean[c]
    }
    case 'torch': {
      const [mean, std] = [TORCH_MEAN.map(f), TORCH_STD.map(f)]
      return (v, c) => f(f(v / 255) - mean[c]) / std[c]
    }
    case 'unit':
      return (v) => v / 255
    case 'raw':
      return (v) => v
  }
}
