// Splits a model where training starts: a frozen prefix that needs no gradients (it runs on the
// fast inference backend, and its outputs can be cached) and the suffix that trains. Keras
// computes the same thing as one graph; the split only avoids work that cannot change anything.
// Scoring a saved model splits it too: everything but its last layer runs on the fast runner.
import * as tf from '@tensorflow/tfjs'
import type { PreprocessMode } from '../../shared/protocol'
import { graphOf, lastCut, replay, type GraphNode } from '../model/graph'
import type { PrefixSpec } from '../prefix/runner'

/** What a split needs of a model: a TransferModel is one; loadedView() makes one of a saved model. */
export interface ModelView {
  model: tf.LayersModel
  /** Every layer in call order; graph[0] is the input. */
  graph: GraphNode[]
  /** The symbolic output of each layer inside `model`. */
  tensors: Map<string, tf.SymbolicTensor>
  inputSize: number
}

/** The view of a model loaded from a file (each layer called once). */
export function loadedView(model: tf.LayersModel, inputSize: number): ModelView {
  const tensors = new Map(model.layers.map((layer) => [layer.name, layer.output as tf.SymbolicTensor]))
  return { model, graph: graphOf(model), tensors, inputSize }
}

export interface Partition {
  /** Name of the last prefix layer (the cache is keyed on it); null when nothing is frozen at the start. */
  cutLayer: string | null
  /** Frozen layers up to the cut, run without gradients. Null when training starts at the input. */
  prefix: tf.LayersModel | null
  /** The prefix's layers in call order (empty without a prefix). */
  prefixNodes: GraphNode[]
  /** The rest of the model, sharing its layers (and weights) with the full model. */
  suffix: tf.LayersModel
  /** Shape of one prefix output (or one input image when there is no prefix). */
  featureShape: number[]
  dispose(): void
}

/** Layers whose output is a fixed function of their input during training. */
function isStatic(node: GraphNode): boolean {
  // A frozen BatchNormalization runs in inference mode (see batchnorm.ts): static too.
  return node.layer.trainableWeights.length === 0 && node.layer.getClassName() !== 'Dropout'
}

/** `inPrefix`: which layers may go before the cut (by default those that training cannot change). */
export function partition(tm: ModelView, inPrefix: (node: GraphNode) => boolean = isStatic): Partition {
  const cut = lastCut(tm.graph, inPrefix)
  if (cut === 0) {
    return {
      cutLayer: null,
      prefix: null,
      prefixNodes: [],
      suffix: tm.model,
      featureShape: [tm.inputSize, tm.inputSize, 3],
      dispose: () => {}
    }
  }
  const cutLayer = tm.graph[cut].layer.name
  const cutTensor = tm.tensors.get(cutLayer)!
  // The prefix is a view on the full model's own tensors: it adds no layer references, so it is
  // never disposed (disposing it would release weights the full model still uses).
  const prefix = tf.model({ inputs: tm.model.inputs, outputs: cutTensor, name: 'frozen_prefix' })
  const featureShape = cutTensor.shape.slice(1) as number[]
  const features = tf.input({ shape: featureShape, name: 'features' })
  const output = replay(tm.graph.slice(cut + 1), new Map([[cutLayer, features]]))
  const suffix = tf.model({ inputs: features, outputs: output, name: 'trainable_suffix' })
  return { cutLayer, prefix, prefixNodes: tm.graph.slice(0, cut + 1), suffix, featureShape, dispose: () => void suffix.dispose() }
}

/** What a runner needs to run the prefix, or null when there is none. */
export function prefixSpec(tm: ModelView, part: Partition, preprocess: PreprocessMode): PrefixSpec | null {
  if (!part.prefix) return null
  return {
    model: part.prefix,
    nodes: part.prefixNodes,
    shapeOf: (layer) => tm.tensors.get(layer)!.shape,
    size: tm.inputSize,
    preprocess
  }
}
