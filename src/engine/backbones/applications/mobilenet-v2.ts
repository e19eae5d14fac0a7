// MobileNetV2 (alpha 1.0, 224) as keras_applications 1.0.8 builds it (mobilenet_v2.py). Its
// stride-2 convolutions pad unevenly (correct_pad: nothing before, one pixel after on a 224 input),
// which is why the paddings are explicit ZeroPadding2D layers and not "same".
import * as tf from '@tensorflow/tfjs'

type Tensor = tf.SymbolicTensor

const SIZE = 224
const EPSILON = 1e-3
const MOMENTUM = 0.999

/** [filters, stride, expansion] of inverted-residual blocks 0..16. */
const BLOCKS: Array<[number, number, number]> = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6]
]

const bn = (name: string) => tf.layers.batchNormalization({ axis: 3, epsilon: EPSILON, momentum: MOMENTUM, name })
const relu6 = (name: string) => tf.layers.reLU({ maxValue: 6, name })

/** keras_applications.correct_pad for a 3x3 kernel on an input of `size` pixels. */
function correctPad(size: number): [[number, number], [number, number]] {
  const adjust = 1 - (size % 2)
  return [
    [1 - adjust, 1],
    [1 - adjust, 1]
  ]
}

/** keras_applications' _make_divisible: channel counts rounded to a multiple of 8. */
function makeDivisible(v: number, divisor = 8): number {
  let rounded = Math.max(divisor, Math.trunc(Math.trunc(v + divisor / 2) / divisor) * divisor)
  if (rounded < 0.9 * v) rounded += divisor
  return rounded
}

function invertedResBlock(inputs: Tensor, filters: number, stride: number, expansion: number, blockId: number): Tensor {
  const inChannels = inputs.shape[3]!
  const pointwiseFilters = makeDivisible(filters)
  let x = inputs
  let prefix = `block_${blockId}_`
  if (blockId) {
    x = tf.layers.conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` }).apply(x) as Tensor
    x = bn(`${prefix}expand_BN`).apply(x) as Tensor
    x = relu6(`${prefix}expand_relu`).apply(x) as Tensor
  } else {
    prefix = 'expanded_conv_'
  }
  if (stride === 2) x = tf.layers.zeroPadding2d({ padding: correctPad(x.shape[1]!), name: `${prefix}pad` }).apply(x) as Tensor
  x = tf.layers
    .depthwiseConv2d({ kernelSize: 3, strides: stride, useBias: false, padding: stride === 1 ? 'same' : 'valid', name: `${prefix}depthwise` })
    .apply(x) as Tensor
  x = bn(`${prefix}depthwise_BN`).apply(x) as Tensor
  x = relu6(`${prefix}depthwise_relu`).apply(x) as Tensor
  x = tf.layers.conv2d({ filters: pointwiseFilters, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` }).apply(x) as Tensor
  x = bn(`${prefix}project_BN`).apply(x) as Tensor
  if (inChannels === pointwiseFilters && stride === 1) return tf.layers.add({ name: `${prefix}add` }).apply([inputs, x]) as Tensor
  return x
}

export function mobileNetV2(includeTop: boolean): tf.LayersModel {
  const input = tf.input({ shape: [SIZE, SIZE, 3], name: 'input_1' })
  let x = tf.layers.zeroPadding2d({ padding: correctPad(SIZE), name: 'Conv1_pad' }).apply(input) as Tensor
  x = tf.layers.conv2d({ filters: makeDivisible(32), kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'Conv1' }).apply(x) as Tensor
  x = bn('bn_Conv1').apply(x) as Tensor
  x = relu6('Conv1_relu').apply(x) as Tensor
  BLOCKS.forEach(([filters, stride, expansion], id) => {
    x = invertedResBlock(x, filters, stride, expansion, id)
  })
  x = tf.layers.conv2d({ filters: 1280, kernelSize: 1, useBias: false, name: 'Conv_1' }).apply(x) as Tensor
  x = bn('Conv_1_bn').apply(x) as Tensor
  x = relu6('out_relu').apply(x) as Tensor
  if (includeTop) {
    // Unnamed in Keras; TensorFlow 2's Keras calls it this.
    x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as Tensor
    x = tf.layers.dense({ units: 1000, activation: 'softmax', name: 'Logits' }).apply(x) as Tensor
  }
  return tf.model({ inputs: input, outputs: x, name: 'mobilenetv2_1.00_224' })
}
