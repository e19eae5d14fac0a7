// What runs a model's frozen prefix, whichever runtime it is: the interface every runner implements
// (onnx.ts, pool.ts, main-thread.ts) and the description of the prefix they are made from.
import type * as tf from '@tensorflow/tfjs'
import type { PreprocessMode } from '../../shared/protocol'
import type { GraphNode } from '../model/graph'

export interface PrefixRunner {
  /** What runs the layers, for the run log. */
  readonly description: string
  /** Batches worth having in flight at once. */
  readonly parallel: number
  /** The prefix's outputs for `count` images of RGB values 0..255 (bytes, or floats once augmented). */
  run(pixels: Uint8Array | Float32Array, count: number): Promise<Float32Array>
  close(): Promise<void>
}

export interface PrefixSpec {
  /** The prefix as a tfjs model: what workers and this thread run, and the reference for others. */
  model: tf.LayersModel
  /** Its layers in call order, nodes[0] the input. */
  nodes: readonly GraphNode[]
  /** Channels-last output shape of a layer, batch first. */
  shapeOf: (layer: string) => readonly (number | null)[]
  size: number
  preprocess: PreprocessMode
}

export type RunnerKind = 'onnx' | 'workers' | 'main'
