// Writes the frozen part of a model as an ONNX graph, so onnxruntime's native CPU kernels (shipped
// inside its npm package, multi-threaded) can run what tfjs-wasm runs on one thread. The graph
// takes RGB values 0..255 channels-last, applies the backbone's preprocessing, works channels-first
// inside (ONNX's only layout for Conv) and hands back the prefix output in tfjs' layout, so its
// numbers can stand in for the tfjs prefix's (checked by test and again at run time).
import * as tf from '@tensorflow/tfjs'
import protos from 'onnx-proto'
import type { PreprocessMode } from '../../shared/protocol'
import type { GraphNode } from './graph'
import { emitPreprocess } from './onnx-preprocess'

const { onnx } = protos

/** Opset 13 has every operator used below with inputs (not attributes) where later opsets moved them. */
const OPSET = 13
const IR_VERSION = 7

export const ONNX_INPUT = 'pixels'
export const ONNX_OUTPUT = 'features'

export class UnsupportedLayerError extends Error {
  constructor(layer: tf.layers.Layer, why: string) {
    super(`layer ${layer.name} (${layer.getClassName()}): ${why}`)
  }
}

type Shape = readonly (number | null)[]

interface Value {
  name: string
  /** Rank 4 values are NCHW inside the graph; rank 2 are [N, features]. */
  rank: number
}

interface Config {
  [key: string]: unknown
}

/**
 * `nodes`: the prefix in call order, `nodes[0]` its input. `shapeOf(name)`: the channels-last
 * output shape of a layer (batch first), for the padding TensorFlow computes from sizes.
 */
export function exportOnnx(nodes: readonly GraphNode[], shapeOf: (layer: string) => Shape, preprocess: PreprocessMode): Uint8Array {
  const g = new GraphBuilder()
  const inputShape = shapeOf(nodes[0].layer.name)
  const values = new Map<string, Value>()
  const nchw = g.node('Transpose', [ONNX_INPUT], { perm: [0, 3, 1, 2] })
  values.set(nodes[0].layer.name, { name: emitPreprocess(g, nchw, preprocess, 1), rank: 4 })

  for (const { layer, inputs } of nodes.slice(1)) {
    const args = inputs.map((name) => values.get(name)!)
    const inShape = shapeOf(inputs[0])
    values.set(layer.name, convert(g, layer, args, inShape))
  }

  const last = values.get(nodes.at(-1)!.layer.name)!
  const outShape = shapeOf(nodes.at(-1)!.layer.name)
  const output = last.rank === 4 ? g.node('Transpose', [last.name], { perm: [0, 2, 3, 1] }) : last.name
  g.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [output], output: [ONNX_OUTPUT], name: ONNX_OUTPUT }))
  const graph = onnx.GraphProto.create({
    name: 'frozen_prefix',
    node: g.nodes,
    initializer: g.initializers,
    input: [valueInfo(ONNX_INPUT, inputShape)],
    output: [valueInfo(ONNX_OUTPUT, outShape)]
  })
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'transfer-studio',
    opsetImport: [{ domain: '', version: OPSET }],
    graph
  })
  return onnx.ModelProto.encode(model).finish()
}

function convert(g: GraphBuilder, layer: tf.layers.Layer, args: Value[], inShape: Shape): Value {
  const config = layer.getConfig() as Config
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast')
    throw new UnsupportedLayerError(layer, `data format ${String(config.dataFormat)}`)
  const x = args[0]
  const spatial = (): [number, number] => {
    if (x.rank !== 4) throw new UnsupportedLayerError(layer, 'expects images (rank 4) here')
    return [inShape[1]!, inShape[2]!]
  }
  switch (layer.getClassName()) {
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      const depthwise = layer.getClassName() === 'DepthwiseConv2D'
      const [h, w] = spatial()
      const kernel = weight(layer, depthwise ? 'depthwise_kernel' : 'kernel')!
      const [kh, kw, channels, multiplier] = kernel.shape as [number, number, number, number]
      const strides = config.strides as number[]
      const dilations = config.dilationRate as number[]
      // tfjs kernels: Conv2D [kh, kw, in, out]; DepthwiseConv2D [kh, kw, in, multiplier], output
      // channel i * multiplier + m. ONNX wants [out, in / group, kh, kw].
      const W = tf.tidy(() => (depthwise ? kernel.transpose([2, 3, 0, 1]).reshape([channels * multiplier, 1, kh, kw]) : kernel.transpose([3, 2, 0, 1])))
      const inputs = [x.name, g.constant(W)]
      W.dispose()
      const bias = weight(layer, 'bias')
      if (bias) inputs.push(g.constant(bias))
      const conv = g.node('Conv', inputs, {
        kernel_shape: [kh, kw],
        strides,
        dilations,
        pads: pads(config.padding as string, [h, w], [kh, kw], strides, dilations),
        group: depthwise ? channels : 1
      })
      return { name: activation(g, layer, conv, config.activation as string), rank: 4 }
    }
    case 'BatchNormalization': {
      const axis = config.axis as number | number[]
      const channelAxis = Array.isArray(axis) ? axis[0] : axis
      if (channelAxis !== -1 && channelAxis !== (x.rank === 4 ? 3 : 1)) throw new UnsupportedLayerError(layer, `normalises axis ${JSON.stringify(axis)}`)
      const mean = weight(layer, 'moving_mean')!
      const channels = mean.size
      // scale=False / center=False layers have no gamma / beta: ONNX wants ones / zeros instead.
      const gamma = weight(layer, 'gamma')
      const beta = weight(layer, 'beta')
      const inputs = [
        x.name,
        gamma ? g.constant(gamma) : g.float(new Array<number>(channels).fill(1)),
        beta ? g.constant(beta) : g.float(new Array<number>(channels).fill(0)),
        g.constant(mean),
        g.constant(weight(layer, 'moving_variance')!)
      ]
      return { name: g.node('BatchNormalization', inputs, { epsilon: config.epsilon as number }), rank: x.rank }
    }
    case 'Activation':
      return { name: activation(g, layer, x.name, config.activation as string), rank: x.rank }
    case 'ReLU': {
      const max = config.maxValue as number | null | undefined
      return { name: max == null ? g.node('Relu', [x.name]) : g.clip(x.name, 0, max), rank: x.rank }
    }
    case 'ZeroPadding2D': {
      spatial()
      const [[top, bottom], [left, right]] = config.padding as number[][]
      return { name: g.node('Pad', [x.name, g.int64([0, 0, top, left, 0, 0, bottom, right])]), rank: 4 }
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [h, w] = spatial()
      const size = config.poolSize as number[]
      const strides = (config.strides as number[] | null) ?? size
      // Padded positions are left out of the average, as TensorFlow does (count_include_pad = 0).
      const op = layer.getClassName() === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool'
      return { name: g.node(op, [x.name], { kernel_shape: size, strides, pads: pads(config.padding as string, [h, w], size, strides, [1, 1]) }), rank: 4 }
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      spatial()
      const op = layer.getClassName() === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool'
      return { name: g.node('Flatten', [g.node(op, [x.name])], { axis: 1 }), rank: 2 }
    }
    case 'Flatten': {
      // Keras flattens channels-last: go back to that order first.
      const nhwc = x.rank === 4 ? g.node('Transpose', [x.name], { perm: [0, 2, 3, 1] }) : x.name
      return { name: g.node('Flatten', [nhwc], { axis: 1 }), rank: 2 }
    }
    case 'UpSampling2D': {
      spatial()
      const [fh, fw] = config.size as number[]
      // tfjs resizes with align_corners = false and no half-pixel centres: ONNX's "asymmetric".
      const mode = config.interpolation === 'bilinear' ? 'linear' : 'nearest'
      const scales = g.float([1, 1, fh, fw])
      return { name: g.node('Resize', [x.name, '', scales], { mode, coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }), rank: 4 }
    }
    case 'Add':
    case 'Multiply': {
      const op = layer.getClassName() === 'Add' ? 'Add' : 'Mul'
      const name = args.slice(1).reduce((sum, arg) => g.node(op, [sum, arg.name]), x.name)
      return { name, rank: x.rank }
    }
    case 'Concatenate': {
      const axis = config.axis as number
      if (axis !== -1 && axis !== x.rank - 1) throw new UnsupportedLayerError(layer, `concatenates on axis ${axis}`)
      return {
        name: g.node(
          'Concat',
          args.map((a) => a.name),
          { axis: 1 }
        ),
        rank: x.rank
      }
    }
    case 'Dense': {
      if (x.rank !== 2) throw new UnsupportedLayerError(layer, 'expects rank-2 input here')
      const inputs = [x.name, g.constant(weight(layer, 'kernel')!)]
      const bias = weight(layer, 'bias')
      if (bias) inputs.push(g.constant(bias))
      return { name: activation(g, layer, g.node('Gemm', inputs), config.activation as string), rank: 2 }
    }
    case 'Dropout':
      return x
    default:
      throw new UnsupportedLayerError(layer, 'no ONNX translation')
  }
}

function activation(g: GraphBuilder, layer: tf.layers.Layer, x: string, name: string | undefined): string {
  switch (name ?? 'linear') {
    case 'linear':
      return x
    case 'relu':
      return g.node('Relu', [x])
    case 'relu6':
      return g.clip(x, 0, 6)
    case 'sigmoid':
      return g.node('Sigmoid', [x])
    case 'tanh':
      return g.node('Tanh', [x])
    default:
      throw new UnsupportedLayerError(layer, `activation ${name}`)
  }
}

/**
 * ONNX pads [top, left, bottom, right] for TensorFlow's padding: "same" puts the odd pixel at
 * the bottom and right (unlike a symmetric pad, which would shift every stride-2 output).
 */
export function pads(padding: string, size: number[], kernel: number[], strides: number[], dilations: number[]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0]
  const [rows, columns] = [0, 1].map((axis) => {
    const out = Math.ceil(size[axis] / strides[axis])
    const total = Math.max((out - 1) * strides[axis] + (kernel[axis] - 1) * dilations[axis] + 1 - size[axis], 0)
    return { before: Math.floor(total / 2), after: total - Math.floor(total / 2) }
  })
  return [rows.before, columns.before, rows.after, columns.after]
}

/** A layer's weight by its Keras name (`conv1/kernel` → `kernel`), or null when it has none. */
function weight(layer: tf.layers.Layer, name: string): tf.Tensor | null {
  const found = layer.weights.find((w) => w.originalName.split('/').at(-1) === name)
  return found ? found.read() : null
}

function valueInfo(name: string, shape: Shape) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d) => (d === null ? { dimParam: 'batch' } : { dimValue: d })) }
      }
    }
  })
}

class GraphBuilder {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = []
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = []
  private count = 0

  /** Adds one node with one output; returns the output's name. */
  node(opType: string, input: string[], attributes: Record<string, number | string | number[]> = {}): string {
    const output = `${opType.toLowerCase()}_${this.count++}`
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value))
    this.nodes.push(onnx.NodeProto.create({ opType, input, output: [output], name: output, attribute }))
    return output
  }

  constant(tensor: tf.Tensor): string {
    return this.add(tensor.shape, tensor.dataSync() as Float32Array)
  }

  float(values: number[], dims: readonly number[] = [values.length]): string {
    return this.add(dims, Float32Array.from(values))
  }

  int64(values: number[]): string {
    const name = `const_${this.count++}`
    this.initializers.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, int64Data: values }))
    return name
  }

  clip(x: string, min: number, max: number): string {
    return this.node('Clip', [x, this.add([], Float32Array.of(min)), this.add([], Float32Array.of(max))])
  }

  private add(dims: readonly number[], values: Float32Array): string {
    const name = `const_${this.count++}`
    const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
    this.initializers.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData }))
    return name
  }
}

function attributeProto(name: string, value: number | string | number[]) {
  const { AttributeType } = onnx.AttributeProto
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: new TextEncoder().encode(value) })
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: value })
  if (Number.isInteger(value) && name !== 'epsilon') return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value })
  return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value })
}
