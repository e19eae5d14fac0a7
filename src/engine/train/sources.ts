// Where training batches come from: rows of cached prefix outputs, or images decoded, augmented
// and run through the frozen prefix for every batch (the end-to-end path).
import * as tf from '@tensorflow/tfjs'
import type { Augmentation, PreprocessMode } from '../../shared/protocol'
import { describeRef, type LabelledImage } from '../datasets/types'
import { augmentPixels } from './augment'
import type { CachedFeatures } from './features'
import { decodeBatch, modelInput, type OnBroken } from './pixels'
import type { PrefixRunner } from './prefix-runner'

export interface Batch {
  /** Input of the trainable suffix, on the current (training) backend. */
  x: tf.Tensor
  labels: Int32Array
  files: string[]
}

export interface BatchSource {
  /** Samples addressable by index (some may turn out broken when read). */
  readonly size: number
  batch(indices: readonly number[], training: boolean): Promise<Batch>
  close(): void
}

export function cachedSource(features: CachedFeatures, featureShape: number[]): BatchSource {
  return {
    size: features.labels.length,
    batch: async (indices) => ({
      x: tf.tensor(features.store.read(indices), [indices.length, ...featureShape]),
      labels: Int32Array.from(indices, (i) => features.labels[i]),
      files: indices.map((i) => features.files[i])
    }),
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
}

export function streamingSource(items: readonly LabelledImage[], options: StreamOptions): BatchSource {
  return {
    size: items.length,
    async batch(indices, training) {
      const chosen = indices.map((i) => items[i])
      const { pixels, kept } = await decodeBatch(chosen, options.size, options.onBroken)
      const input = training && options.augment ? augmentPixels(pixels, kept.length, options.size, options.augment, options.random) : pixels
      let x: tf.Tensor
      if (options.runner) {
        const runner = await options.runner()
        // Frozen layers need no gradients: they run off the training backend, only numbers come back.
        const values = kept.length > 0 ? await runner.run(input, kept.length) : new Float32Array(0)
        x = tf.tensor(values, [kept.length, ...options.featureShape])
      } else {
        x = modelInput(input, kept.length, options.size, options.preprocess)
      }
      return {
        x,
        labels: Int32Array.from(kept, (k) => chosen[k].label),
        files: kept.map((k) => describeRef(chosen[k].ref))
      }
    },
    close: () => {}
  }
}
