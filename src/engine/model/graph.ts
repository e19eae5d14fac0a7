// A model's wiring as plain data (each layer and the names of the layers feeding it), so parts of
// it can be applied again to new inputs: the backbone onto our own input, or the trainable tail
// of a model onto cached features. Re-applied layers are the same objects: weights are shared.
import * as tf from '@tensorflow/tfjs'

export interface GraphNode {
  layer: tf.layers.Layer
  /** Names of the layers whose outputs this layer takes, in order. */
  inputs: string[]
}

interface InboundNode {
  inboundLayers: tf.layers.Layer[]
}

/** The wiring of a freshly loaded model, from each layer's first (and only) call. */
export function graphOf(model: tf.LayersModel): GraphNode[] {
  return model.layers.map((layer) => {
    const node = (layer as unknown as { inboundNodes: InboundNode[] }).inboundNodes[0]
    return { layer, inputs: node.inboundLayers.map((l) => l.name) }
  })
}

/**
 * Applies `nodes` in order. `tensors` maps layer names to symbolic tensors already available
 * (at least the inputs of the first node); the outputs are added to it under each layer's name.
 */
export function replay(nodes: readonly GraphNode[], tensors: Map<string, tf.SymbolicTensor>): tf.SymbolicTensor {
  let last: tf.SymbolicTensor | undefined
  for (const { layer, inputs } of nodes) {
    const args = inputs.map((name) => {
      const tensor = tensors.get(name)
      if (!tensor) throw new Error(`Layer ${layer.name} needs the output of ${name}, which is not available here`)
      return tensor
    })
    last = layer.apply(args.length === 1 ? args[0] : args) as tf.SymbolicTensor
    tensors.set(layer.name, last)
  }
  if (!last) throw new Error('Nothing to apply')
  return last
}

/**
 * Index of the last node of the longest prefix of `graph` that (a) satisfies `inPrefix` for every
 * node and (b) hands exactly one tensor to the rest: no later layer reads a tensor from before it
 * (ResNet's skip connections make most positions inside a block impossible cuts). 0 when only
 * the input qualifies.
 */
export function lastCut(graph: readonly GraphNode[], inPrefix: (node: GraphNode) => boolean): number {
  const index = new Map(graph.map((node, i) => [node.layer.name, i]))
  // earliest[i]: the earliest layer any node from i on reads from.
  const earliest = new Array<number>(graph.length + 1).fill(Infinity)
  for (let i = graph.length - 1; i >= 0; i--) {
    const reads = graph[i].inputs.map((name) => index.get(name)!)
    earliest[i] = Math.min(earliest[i + 1], ...reads)
  }
  let cut = 0
  for (let i = 1; i < graph.length - 1 && inPrefix(graph[i]); i++) {
    if (earliest[i + 1] >= i) cut = i
  }
  return cut
}
