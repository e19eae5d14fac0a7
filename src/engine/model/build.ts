// The transfer model: an input (optionally resized to the backbone's size), the backbone cut at
// its feature layer (Keras' include_top=False) with its layers under their Keras names, and a new
// head. One flat model, so the saved file lists `conv_pw_13_bn` where Keras would.
import * as tf from '@tensorflow/tfjs'
import type { HeadConfig } from '../../shared/protocol'
import type { LoadedBackbone } from '../backbones/load'
import type { BackboneSpec } from '../backbones/registry'
import { applyKerasBatchNormSemantics } from './batchnorm'
import { graphOf, replay, type GraphNode } from './graph'

export const INPUT_LAYER = 'image'
export const RESIZE_LAYER = 'upsample'
export const OUTPUT_LAYER = 'predictions'

export interface TransferModel {
  model: tf.LayersModel
  /** Every layer in call order; graph[0] is the input. */
  graph: GraphNode[]
  /** The symbolic output of each layer inside `model`. */
  tensors: Map<string, tf.SymbolicTensor>
  backbone: BackboneSpec
  /** Names of the backbone's layers (after cutting), for freezing and the layer tree. */
  backboneLayers: string[]
  headLayers: string[]
  inputSize: number
  classes: string[]
  head: HeadConfig
}

export interface BuildOptions {
  classes: string[]
  head: HeadConfig
  /** Side of the images fed in; when smaller or larger than the backbone's, a resize layer is added. */
  inputSize: number
  seed: number
}

export function buildTransferModel(loaded: LoadedBackbone, options: BuildOptions): TransferModel {
  const { spec } = loaded
  if (options.classes.length < 2) {
    throw new Error(`Training needs at least two classes; the dataset has ${options.classes.length} (${options.classes.join(', ') || 'none'})`)
  }
  const source = graphOf(loaded.model)
  const cut = source.findIndex((node) => node.layer.name === spec.featureLayer)
  if (cut < 0) throw new Error(`${spec.id} has no layer ${spec.featureLayer} to take features from`)

  const input = tf.input({ shape: [options.inputSize, options.inputSize, 3], name: INPUT_LAYER })
  const inputNode: GraphNode = { layer: input.sourceLayer as tf.layers.Layer, inputs: [] }
  const tensors = new Map<string, tf.SymbolicTensor>([[INPUT_LAYER, input]])
  const graph: GraphNode[] = [inputNode]
  let entry = INPUT_LAYER
  if (options.inputSize !== spec.inputSize) {
    // UpSampling2D rather than Resizing: tfjs 4.22's Resizing drops the batch dimension from its
    // output shape, so no model containing it can be built, here or in whatever loads the file.
    const factor = spec.inputSize / options.inputSize
    if (!Number.isInteger(factor)) {
      throw new Error(`Images of ${options.inputSize}x${options.inputSize} cannot be upsampled to ${spec.inputSize}x${spec.inputSize} by a whole factor`)
    }
    const resize: GraphNode = {
      layer: tf.layers.upSampling2d({ size: [factor, factor], interpolation: 'bilinear', name: RESIZE_LAYER }),
      inputs: [INPUT_LAYER]
    }
    replay([resize], tensors)
    graph.push(resize)
    entry = RESIZE_LAYER
  }

  // The backbone's own input layer is replaced by ours.
  const backboneInput = source[0].layer.name
  const backbone = source.slice(1, cut + 1).map((node) => ({
    layer: node.layer,
    inputs: node.inputs.map((name) => (name === backboneInput ? entry : name))
  }))
  replay(backbone, tensors)
  graph.push(...backbone)

  const head = headNodes(spec.featureLayer, options)
  replay(head, tensors)
  graph.push(...head)

  applyKerasBatchNormSemantics(graph.map((node) => node.layer))
  const model = tf.model({ inputs: input, outputs: tensors.get(OUTPUT_LAYER)!, name: 'transfer_studio' })
  return {
    model,
    graph,
    tensors,
    backbone: spec,
    backboneLayers: backbone.map((n) => n.layer.name),
    headLayers: head.map((n) => n.layer.name),
    inputSize: options.inputSize,
    classes: options.classes,
    head: options.head
  }
}

function headNodes(from: string, { head, classes, seed }: BuildOptions): GraphNode[] {
  const nodes: GraphNode[] = []
  const add = (layer: tf.layers.Layer): void => {
    nodes.push({ layer, inputs: [nodes.at(-1)?.layer.name ?? from] })
  }
  add(head.pooling === 'avg' ? tf.layers.globalAveragePooling2d({ name: 'head_pool' }) : tf.layers.flatten({ name: 'head_flatten' }))
  if (head.dropout > 0) add(tf.layers.dropout({ rate: head.dropout, name: 'head_dropout' }))
  head.dense.forEach((dense, i) => {
    const n = i + 1
    if (dense.batchNorm) add(tf.layers.batchNormalization({ name: `head_bn_${n}` }))
    add(
      tf.layers.dense({
        units: dense.units,
        activation: dense.activation,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + n }),
        name: `head_dense_${n}`
      })
    )
    if (dense.dropout > 0) add(tf.layers.dropout({ rate: dense.dropout, name: `head_dropout_${n}` }))
  })
  add(tf.layers.dense({ units: classes.length, activation: 'softmax', ...classifierInitializers(head.init, seed), name: OUTPUT_LAYER }))
  return nodes
}

/** The classifier's initial weights (HeadConfig.init says why 'zeros' is the default); biases start at zero. */
function classifierInitializers(init: HeadConfig['init'], seed: number): { kernelInitializer: ReturnType<typeof tf.initializers.zeros> | 'zeros' } {
  if (init === 'keras') return { kernelInitializer: tf.initializers.glorotUniform({ seed }) }
  if (init === 'zeros') return { kernelInitializer: 'zeros' }
  // Variance 1/(3·fan_in), uniform, is U(±1/sqrt(fan_in)): PyTorch's Linear weights (its bias,
  // as small, is left at zero as in Keras).
  return { kernelInitializer: tf.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed }) }
}
