// Each BatchNormalization that directly follows a convolution (and a ReLU after it) is folded
// into that convolution, as onnxruntime's optimizer does to a graph whose weights are constants.
// Ours are fed or trained (docs/adr/0005), which its optimizer leaves alone: there the
// normalisation and the activation were two more passes over the activations forward, three
// more backward, and each convolution's output went back to NCHW and into the blocked layout again
// for the next one. With its moving statistics the normalisation is a per-channel affine map, so
// the convolution's kernel times the scale and a bias of shift compute both in one pass; in a
// training graph the folded kernel's and bias's gradients give the layers' own (layers.ts).
import type * as tf from '@tensorflow/tfjs'
import type { GraphNode } from '../model/graph'

export interface FoldPlan {
  batchNorm: tf.layers.Layer
  /** The ReLU after the normalisation (capped at `max`), or null. */
  activation: { max: number | null } | null
  /** The layers the convolution computes as well: they pass its output on unchanged. */
  absorbed: string[]
}

/**
 * The folds a graph of `nodes` can make, by convolution layer name: a Conv2D or DepthwiseConv2D
 * without an activation of its own whose output only a channels-last BatchNormalization reads
 * (one that `movingStatistics` says normalises with its moving statistics), then a plain ReLU
 * (capped or not) when it alone reads that. `keep` names layers whose own outputs the graph must
 * give, which nothing may absorb.
 */
export function foldPlans(
  nodes: readonly GraphNode[],
  keep: ReadonlySet<string>,
  movingStatistics: (batchNorm: tf.layers.Layer) => boolean = () => true
): Map<string, FoldPlan> {
  const readers = new Map<string, GraphNode[]>()
  for (const node of nodes) for (const name of node.inputs) readers.set(name, [...(readers.get(name) ?? []), node])
  const onlyReader = (name: string) => {
    const list = readers.get(name) ?? []
    return list.length === 1 && list[0].inputs.length === 1 && !keep.has(name) ? list[0] : null
  }
  const plans = new Map<string, FoldPlan>()
  for (const { layer } of nodes) {
    const config = layer.getConfig()
    if (!['Conv2D', 'DepthwiseConv2D'].includes(layer.getClassName()) || ((config.activation as string | undefined) ?? 'linear') !== 'linear') continue
    const norm = onlyReader(layer.name)
    if (!norm || norm.layer.getClassName() !== 'BatchNormalization' || !lastAxis(norm.layer.getConfig().axis) || !movingStatistics(norm.layer)) continue
    const next = onlyReader(norm.layer.name)
    const activation = next ? reluOf(next.layer) : null
    plans.set(layer.name, { batchNorm: norm.layer, activation, absorbed: activation ? [norm.layer.name, next!.layer.name] : [norm.layer.name] })
  }
  return plans
}

function lastAxis(axis: unknown): boolean {
  const first = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : null) : axis
  return first === -1 || first === 3
}

function reluOf(layer: tf.layers.Layer): { max: number | null } | null {
  const config = layer.getConfig()
  if (layer.getClassName() === 'Activation') return config.activation === 'relu' ? { max: null } : config.activation === 'relu6' ? { max: 6 } : null
  if (layer.getClassName() !== 'ReLU' || ((config.negativeSlope as number | undefined) ?? 0) !== 0 || ((config.threshold as number | undefined) ?? 0) !== 0)
    return null
  return { max: (config.maxValue as number | null | undefined) ?? null }
}
