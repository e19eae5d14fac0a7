// DenseNet121 and DenseNet201 as keras_applications 1.0.8 builds them (densenet.py): the same layer
// order, names, paddings and BatchNormalization epsilon, so the official weight files map onto it
// layer by layer and a recipe's layer names and `layers[149:]` mean the same thing here.
import * as tf from '@tensorflow/tfjs'

const EPSILON = 1.001e-5
const GROWTH_RATE = 32

export const DENSENET_BLOCKS = { densenet121: [6, 12, 24, 16], densenet201: [6, 12, 48, 32] } as const

type Tensor = tf.SymbolicTensor

const bn = (name: string) => tf.layers.batchNormalization({ axis: 3, epsilon: EPSILON, name })
const relu = (name: string) => tf.layers.activation({ activation: 'relu', name })

function convBlock(x: Tensor, name: string): Tensor {
  let x1 = bn(`${name}_0_bn`).apply(x) as Tensor
  x1 = relu(`${name}_0_relu`).apply(x1) as Tensor
  x1 = tf.layers.conv2d({ filters: 4 * GROWTH_RATE, kernelSize: 1, useBias: false, name: `${name}_1_conv` }).apply(x1) as Tensor
  x1 = bn(`${name}_1_bn`).apply(x1) as Tensor
  x1 = relu(`${name}_1_relu`).apply(x1) as Tensor
  x1 = tf.layers.conv2d({ filters: GROWTH_RATE, kernelSize: 3, padding: 'same', useBias: false, name: `${name}_2_conv` }).apply(x1) as Tensor
  return tf.layers.concatenate({ axis: 3, name: `${name}_concat` }).apply([x, x1]) as Tensor
}

function denseBlock(x: Tensor, blocks: number, name: string): Tensor {
  for (let i = 1; i <= blocks; i++) x = convBlock(x, `${name}_block${i}`)
  return x
}

function transitionBlock(x: Tensor, reduction: number, name: string): Tensor {
  x = bn(`${name}_bn`).apply(x) as Tensor
  x = relu(`${name}_relu`).apply(x) as Tensor
  const channels = x.shape[3]!
  x = tf.layers.conv2d({ filters: Math.trunc(channels * reduction), kernelSize: 1, useBias: false, name: `${name}_conv` }).apply(x) as Tensor
  return tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name: `${name}_pool` }).apply(x) as Tensor
}

export function denseNet(variant: keyof typeof DENSENET_BLOCKS, includeTop: boolean): tf.LayersModel {
  const blocks = DENSENET_BLOCKS[variant]
  const input = tf.input({ shape: [224, 224, 3], name: 'input_1' })
  // Keras leaves the two paddings unnamed; these are the names TensorFlow 2's Keras gives them.
  let x = tf.layers
    .zeroPadding2d({
      padding: [
        [3, 3],
        [3, 3]
      ],
      name: 'zero_padding2d'
    })
    .apply(input) as Tensor
  x = tf.layers.conv2d({ filters: 64, kernelSize: 7, strides: 2, useBias: false, name: 'conv1/conv' }).apply(x) as Tensor
  x = bn('conv1/bn').apply(x) as Tensor
  x = relu('conv1/relu').apply(x) as Tensor
  x = tf.layers
    .zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1]
      ],
      name: 'zero_padding2d_1'
    })
    .apply(x) as Tensor
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1' }).apply(x) as Tensor
  x = denseBlock(x, blocks[0], 'conv2')
  x = transitionBlock(x, 0.5, 'pool2')
  x = denseBlock(x, blocks[1], 'conv3')
  x = transitionBlock(x, 0.5, 'pool3')
  x = denseBlock(x, blocks[2], 'conv4')
  x = transitionBlock(x, 0.5, 'pool4')
  x = denseBlock(x, blocks[3], 'conv5')
  x = bn('bn').apply(x) as Tensor
  x = relu('relu').apply(x) as Tensor
  if (includeTop) {
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as Tensor
    x = tf.layers.dense({ units: 1000, activation: 'softmax', name: 'fc1000' }).apply(x) as Tensor
  }
  return tf.model({ inputs: input, outputs: x, name: variant })
}
