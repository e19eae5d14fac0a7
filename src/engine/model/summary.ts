// The model as a tree for people: the backbone in its natural blocks (MobileNet's conv_dw_N /
// conv_pw_N pairs, ResNet's conv2_block1 … conv5_block3, DenseNet's conv blocks and transitions,
// VGG's five blocks, MobileNetV2's inverted-residual blocks), each layer with its type, output
// shape, parameters and trainable flag; totals as Keras' model.summary() gives them.
import type * as tf from '@tensorflow/tfjs'
import type { LayerBlock, LayerNode, ModelSummary } from '../../shared/protocol'
import type { TransferModel } from './build'

/** The block a backbone layer opens, from its Keras name; null when it continues the current one. */
export function blockOf(name: string): string | null {
  let m = /^conv_(?:dw|pw|pad)_(\d+)(?:_|$)/.exec(name)
  if (m) return `block_${m[1]}`
  // DenseNet's stem starts with an unnamed padding layer (zero_padding2d in TensorFlow 2's Keras).
  if (/^conv1(?:[_/]|$)/.test(name) || name === 'bn_conv1' || name === 'zero_padding2d') return 'conv1'
  // Keras 2.2 ResNet names (res2a_branch2a, bn3c_branch1) and Keras 2.3+ (conv2_block1_1_conv).
  m = /^(?:res|bn)(\d)([a-z])_branch/.exec(name)
  if (m) return `conv${m[1]}_block${m[2].charCodeAt(0) - 96}`
  // ResNet's and DenseNet's conv blocks (DenseNet's conv4_block24_0_bn … conv4_block24_concat).
  m = /^(conv\d_block\d+)_/.exec(name)
  if (m) return m[1]
  // DenseNet's transitions (pool2_bn … pool2_pool) and its closing bn + relu.
  m = /^(pool[2-4])_/.exec(name)
  if (m) return m[1]
  if (name === 'bn') return 'bn'
  // VGG16: block1_conv1 … block5_pool.
  m = /^(block\d)_/.exec(name)
  if (m) return m[1]
  // MobileNetV2: Conv1 stem, expanded_conv (block 0), block_1_expand … block_16_project_BN, Conv_1.
  if (/^(?:bn_)?Conv1(?:_|$)/.test(name)) return 'Conv1'
  if (name.startsWith('expanded_conv_')) return 'expanded_conv'
  m = /^block_(\d+)_/.exec(name)
  if (m) return `block_${m[1]}`
  if (/^Conv_1(?:_|$)/.test(name)) return 'Conv_1'
  return null
}

const count = (weights: tf.LayerVariable[]): number => weights.reduce((sum, w) => sum + w.shape.reduce((n: number, d) => n * (d ?? 1), 1), 0)

function describe(layer: tf.layers.Layer): LayerNode {
  const shape = layer.outputShape as (number | null)[]
  // The weights a layer trains when it is trainable; tfjs hides them from trainableWeights while frozen.
  const trainableWhenOn = (layer as unknown as { _trainableWeights: tf.LayerVariable[] })._trainableWeights ?? []
  return {
    name: layer.name,
    type: layer.getClassName(),
    outputShape: Array.isArray(shape[0]) ? (shape[0] as unknown as (number | null)[]) : shape,
    parameters: layer.countParams(),
    trainableParameters: count(trainableWhenOn),
    trainable: layer.trainable,
    hasWeights: layer.weights.length > 0
  }
}

export function summarize(tm: TransferModel): ModelSummary {
  const backbone = new Set(tm.backboneLayers)
  const head = new Set(tm.headLayers)
  const blocks: LayerBlock[] = []
  let current: LayerBlock | undefined
  for (const { layer } of tm.graph) {
    const part = backbone.has(layer.name) ? 'backbone' : head.has(layer.name) ? 'head' : 'input'
    const name = part === 'backbone' ? (blockOf(layer.name) ?? current?.name ?? 'backbone') : part
    if (!current || current.name !== name || current.part !== part) {
      current = { name, part, layers: [] }
      blocks.push(current)
    }
    current.layers.push(describe(layer))
  }
  const trainable = count(tm.model.trainableWeights)
  const total = count(tm.model.weights)
  return { blocks, totalParameters: total, trainableParameters: trainable, nonTrainableParameters: total - trainable }
}
