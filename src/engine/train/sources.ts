// Where training batches come from: rows of cached prefix outputs, or images decoded, augmented
// and run through the frozen prefix for every batch (the end-to-end path).
import * as tf from '@tensorflow/tfjs'
import type { Augmentation, PreprocessMode } from '../../shared/protocol'
import { describeRef, type LabelledImage } from '../datasets/types'
import { augmentPixels } from './augment'
import { BatchBuffers } from './batch-buffers'
import type { CachedFeatures } from './features'
import { decodeEach, joinImages, modelInput, type DecodedBatch, type OnBroken } from './pixels'
import type { PrefixRunner } from '../prefix/runner'

export interface Batch {
  /** Input of the trainable suffix (or RGB values 0..255 when the batch was asked for pixels), on the current (training) backend. */
  x: tf.Tensor
  labels: Int32Array
  files: string[]
}

export interface BatchSource {
  /** Samples addressable by index (some may turn out broken when read). */
  readonly size: number
  /**
   * With `pixels`, `x` holds the RGB values 0..255 (as floats) instead of the suffix's input: for a
   * native step that preprocesses in its own graph (only where the suffix starts at the input).
   */
  batch(indices: readonly number[], training: boolean, pixels?: boolean): Promise<Batch>
  /** Readies buffers for `batches` batches of `batchSize` held at once, where the source reuses buffers. */
  reserve?(batches: number, batchSize: number): void
  close(): void
}

export function cachedSource(features: CachedFeatures, featureShape: number[]): BatchSource {
  const buffers = new BatchBuffers()
  return {
    size: features.labels.length,
    batch: async (indices, _training, pixels) => {
      if (pixels) noPixels()
      return {
        x: buffers.tensor(features.store.read(indices, buffers.take(indices.length * features.store.rowLength)), [indices.length, ...featureShape]),
        labels: Int32Array.from(indices, (i) => features.labels[i]),
        files: indices.map((i) => features.files[i])
      }
    },
    reserve: (batches, batchSize) => void buffers.reserve(batches, batchSize * features.store.rowLength),
    close: () => features.store.close()
  }
}

export interface StreamOptions {
  /** What runs the frozen prefix; null when training starts at the input. */
  runner: (() => Promise<PrefixRunner>) | null
  /** Shape of one prefix output. */
  featureShape: readonly number[]
  size: number
  preprocess: PreprocessMode
  augment: Augmentation | null
  random: () => number
  onBroken: OnBroken
  /**
   * Decoded images are kept for later epochs up to this many bytes (as tf.data's cache() would):
   * on this path decoding costs about as much as the frozen layers. 0 keeps none.
   */
  pixelCacheBytes?: number
}

export function streamingSource(items: readonly LabelledImage[], options: StreamOptions): BatchSource {
  const buffers = new BatchBuffers()
  // Broken images are remembered too (as null): they are reported once and never decoded again.
  const decoded = new Map<number, Uint8Array | null>()
  let cachedBytes = 0
  const decode = async (indices: readonly number[]): Promise<DecodedBatch> => {
    const missing = indices.filter((i) => !decoded.has(i))
    const fresh = await decodeEach(
      missing.map((i) => items[i]),
      options.size,
      options.onBroken
    )
    const now = new Map(missing.map((index, k) => [index, fresh[k]]))
    for (const [index, image] of now) {
      if (image && cachedBytes + image.byteLength > (options.pixelCacheBytes ?? 0)) continue
      // A view into a larger buffer (a CIFAR batch file) would keep all of it alive: keep a copy.
      decoded.set(index, image && image.byteLength !== image.buffer.byteLength ? image.slice() : image)
      cachedBytes += image?.byteLength ?? 0
    }
    return joinImages(
      indices.map((i) => (now.has(i) ? now.get(i)! : decoded.get(i)!)),
      options.size
    )
  }
  return {
    size: items.length,
    async batch(indices, training, asPixels) {
      if (asPixels && options.runner) noPixels()
      const chosen = indices.map((i) => items[i])
      const { pixels, kept } = await decode(indices)
      const input = training && options.augment ? augmentPixels(pixels, kept.length, options.size, options.augment, options.random) : pixels
      let x: tf.Tensor
      if (options.runner) {
        const runner = await options.runner()
        // Frozen layers need no gradients: they run off the training backend, only numbers come back.
        const values = kept.length > 0 ? await runner.run(input, kept.length) : new Float32Array(0)
        x = tf.tensor(values, [kept.length, ...options.featureShape])
      } else {
        x = modelInput(input, kept.length, options.size, asPixels ? 'raw' : options.preprocess, buffers)
      }
      return {
        x,
        labels: Int32Array.from(kept, (k) => chosen[k].label),
        files: kept.map((k) => describeRef(chosen[k].ref))
      }
    },
    // Only images go through the buffers (modelInput); a prefix's outputs are its runner's own arrays.
    reserve(batches, batchSize) {
      if (!options.runner) void buffers.reserve(batches, batchSize * options.size * options.size * 3)
    },
    close: () => {}
  }
}

function noPixels(): never {
  throw new Error('Only a source without frozen layers before the suffix gives pixels')
}
