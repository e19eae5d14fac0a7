// Decodes a batch of dataset images for the model, skipping (and reporting once) any that fail.
import * as tf from '@tensorflow/tfjs'
import type { PreprocessMode } from '../../shared/protocol'
import { loadPixels } from '../datasets/pixels'
import { describeRef, type LabelledImage } from '../datasets/types'
import { ImageDecodeError } from '../images/decode'
import { preprocessPixels } from '../inference/preprocess'
import { mapLimit } from '../util/concurrency'
import type { BatchBuffers } from './batch-buffers'

/** sharp decodes on libuv's thread pool (4 threads by default): more in flight would only queue. */
const DECODE_CONCURRENCY = 4

export interface DecodedBatch {
  /** N x size x size x 3 RGB bytes. */
  pixels: Uint8Array
  /** Positions (in the requested list) of the images that decoded. */
  kept: number[]
}

export type OnBroken = (file: string, reason: string) => void

export async function decodeBatch(items: readonly LabelledImage[], size: number, onBroken: OnBroken): Promise<DecodedBatch> {
  return joinImages(await decodeEach(items, size, onBroken), size)
}

/** Each image's RGB bytes at `size` x `size`, or null (reported) when it cannot be decoded. */
export function decodeEach(items: readonly LabelledImage[], size: number, onBroken: OnBroken): Promise<Array<Uint8Array | null>> {
  return mapLimit(items, DECODE_CONCURRENCY, async (item) => {
    try {
      return (await loadPixels(item.ref, size)).data
    } catch (error) {
      if (!(error instanceof ImageDecodeError)) throw error
      onBroken(describeRef(item.ref), error.reason)
      return null
    }
  })
}

/** One batch of the images that decoded, and where they were in the list. */
export function joinImages(images: ReadonlyArray<Uint8Array | null>, size: number): DecodedBatch {
  const kept = images.flatMap((image, i) => (image ? [i] : []))
  const perImage = size * size * 3
  const pixels = new Uint8Array(kept.length * perImage)
  kept.forEach((i, k) => pixels.set(images[i]!, k * perImage))
  return { pixels, kept }
}

/** RGB values 0..255 to the preprocessed float batch the backbone expects (in a buffer from `buffers` when given). */
export function modelInput(pixels: Uint8Array | Float32Array, count: number, size: number, mode: PreprocessMode, buffers?: BatchBuffers): tf.Tensor {
  const shape = [count, size, size, 3]
  const values = buffers ? buffers.take(pixels.length) : new Float32Array(pixels.length)
  preprocessPixels(pixels, mode, values)
  return buffers ? buffers.tensor(values, shape) : tf.tensor(values, shape)
}

/** A tfjs model's outputs for `count` images of RGB values 0..255, as numbers. */
export function prefixOutputs(model: tf.LayersModel, pixels: Uint8Array | Float32Array, count: number, size: number, mode: PreprocessMode): Float32Array {
  return tf.tidy(() => (model.predict(modelInput(pixels, count, size, mode)) as tf.Tensor).dataSync() as Float32Array)
}
