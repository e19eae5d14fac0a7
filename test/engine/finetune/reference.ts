// Shared by the native-training tests: seeded random weights and inputs, the probe graph run on
// onnxruntime, and the comparison against tfjs's cpu backend.
import * as tf from '@tensorflow/tfjs'
import { expect } from 'vitest'
import { loadOnnxRuntime, type Ort } from '../../../src/engine/onnx-runtime'
import { seededRandom } from '../../../src/engine/util/random'
import { largestDifference } from '../../helpers'

export async function ort(): Promise<Ort> {
  const runtime = await loadOnnxRuntime()
  if (typeof runtime === 'string') throw new Error(runtime)
  return runtime
}

export function randomArray(n: number, random: () => number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + scale * (random() * 2 - 1))
}

/** Replaces every weight of `model` with seeded random values (variances kept positive). */
export function randomiseWeights(model: tf.LayersModel, seed: number): void {
  const random = seededRandom(seed)
  for (const layer of model.layers) {
    const values = layer.weights.map((w) => {
      const size = w.shape.reduce((a, b) => a! * b!, 1)!
      const short = w.originalName.split('/').at(-1)!
      const data =
        short === 'moving_variance' ? randomArray(size, random, 0.5, 1) : short === 'gamma' ? randomArray(size, random, 0.5, 1) : randomArray(size, random, 0.5)
      return tf.tensor(data, w.shape as number[])
    })
    if (values.length > 0) layer.setWeights(values)
    tf.dispose(values)
  }
}

/** Largest absolute difference relative to the reference's largest magnitude. */
export function relativeError(ours: ArrayLike<number>, reference: ArrayLike<number>): number {
  const { worst, scale } = largestDifference(ours, reference)
  expect(scale).toBeGreaterThan(0)
  return worst / scale
}
