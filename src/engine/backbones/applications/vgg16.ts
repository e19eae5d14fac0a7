// VGG16 as keras_applications 1.0.8 builds it (vgg16.py): five blocks of 3x3 "same" convolutions
// with ReLU, each closed by 2x2 max pooling; the top flattens and adds fc1, fc2 and predictions.
import * as tf from '@tensorflow/tfjs'

type Tensor = tf.SymbolicTensor

const BLOCKS: Array<[filters: number, convolutions: number]> = [
  [64, 2],
  [128, 2],
  [256, 3],
  [512, 3],
  [512, 3]
]

export function vgg16(includeTop: boolean): tf.LayersModel {
  const input = tf.input({ shape: [224, 224, 3], name: 'input_1' })
  let x: Tensor = input
  BLOCKS.forEach(([filters, convolutions], b) => {
    const block = `block${b + 1}`
    for (let c = 1; c <= convolutions; c++) {
      x = tf.layers.conv2d({ filters, kernelSize: 3, activation: 'relu', padding: 'same', name: `${block}_conv${c}` }).apply(x) as Tensor
    }
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${block}_pool` }).apply(x) as Tensor
  })
  if (includeTop) {
    x = tf.layers.flatten({ name: 'flatten' }).apply(x) as Tensor
    x = tf.layers.dense({ units: 4096, activation: 'relu', name: 'fc1' }).apply(x) as Tensor
    x = tf.layers.dense({ units: 4096, activation: 'relu', name: 'fc2' }).apply(x) as Tensor
    x = tf.layers.dense({ units: 1000, activation: 'softmax', name: 'predictions' }).apply(x) as Tensor
  }
  return tf.model({ inputs: input, outputs: x, name: 'vgg16' })
}
