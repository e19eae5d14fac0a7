// When nothing is frozen, the native graphs apply the backbone's preprocess_input to RGB values
// 0..255 themselves (build.ts SuffixSpec.preprocess). Fed pixels, they must train and score as the
// same graphs fed what preprocessPixels() makes of them (what tfjs is fed).
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import type { PreprocessMode } from '../../../src/shared/protocol'
import { suffixOfModel } from '../../../src/engine/finetune/build'
import { NativeTrainer } from '../../../src/engine/finetune/runner'
import { preprocessPixels } from '../../../src/engine/inference/preprocess'
import { seededRandom } from '../../../src/engine/util/random'
import { randomiseWeights, relativeError } from './reference'

const BATCH = 4
const SHAPE = [9, 9, 3]
const CLASSES = 3

beforeAll(async () => {
  await tf.setBackend('cpu')
})

/**
 * The preprocessed input reaches the layers in two forms (build.ts): channels-first through a
 * Transpose for the forward passes, and channels-last as it is for a Conv2D's kernel gradient that
 * reads the input directly (layers.ts, as VGG16's block1_conv1 does). A depthwise first layer and a
 * Conv2D behind ZeroPadding2D read the first form only; a Conv2D on the input reads both.
 */
function model(first: 'depthwise' | 'padded conv' | 'conv on input'): tf.LayersModel {
  const x = tf.input({ shape: SHAPE })
  let y =
    first === 'depthwise'
      ? (tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor)
      : first === 'conv on input'
        ? (tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same' }).apply(x) as tf.SymbolicTensor)
        : (tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(
            tf.layers
              .zeroPadding2d({
                padding: [
                  [0, 1],
                  [0, 1]
                ]
              })
              .apply(x) as tf.SymbolicTensor
          ) as tf.SymbolicTensor)
  y = tf.layers.batchNormalization({ epsilon: 1e-3 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(y) as tf.SymbolicTensor
  const made = tf.model({ inputs: x, outputs: y })
  randomiseWeights(made, 5)
  return made
}

describe('preprocess_input inside the native graphs', () => {
  for (const first of ['depthwise', 'padded conv', 'conv on input'] as const) {
    for (const mode of ['tf', 'caffe', 'torch', 'unit'] as const satisfies readonly PreprocessMode[]) {
      it(`${first} first, '${mode}': three steps and the scores fed pixels equal them fed preprocessPixels()`, async () => {
        const m = model(first)
        const settings = { optimizer: 'adam', learningRate: 0.01, momentum: 0 } as const
        const onPixels = await NativeTrainer.create({ ...suffixOfModel(m), preprocess: mode }, settings, 2)
        const onValues = await NativeTrainer.create(suffixOfModel(m), settings, 2)
        if (typeof onPixels === 'string' || typeof onValues === 'string') throw new Error(String(onPixels))
        expect([onPixels.takesPixels, onValues.takesPixels]).toEqual([true, false])
        const random = seededRandom(3)
        const length = BATCH * SHAPE.reduce((a, b) => a * b)
        const pixels = () => Float32Array.from({ length }, () => Math.floor(random() * 256))
        for (let step = 0; step < 3; step++) {
          const rgb = pixels()
          const labels = Int32Array.from({ length: BATCH }, () => Math.floor(random() * CLASSES))
          const a = await onPixels.step(rgb, labels)
          const b = await onValues.step(preprocessPixels(rgb, mode), labels)
          expect(a.right).toBe(b.right)
          expect(Math.abs(a.loss - b.loss) / b.loss).toBeLessThan(1e-6)
        }
        const theirs = onValues.getWeights()
        onPixels.getWeights().forEach(({ values }, i) => expect(relativeError(values, theirs[i].values)).toBeLessThan(1e-5))
        const rgb = pixels()
        expect(relativeError(await onPixels.predict(rgb, BATCH), await onValues.predict(preprocessPixels(rgb, mode), BATCH))).toBeLessThan(1e-5)
        await onPixels.close()
        await onValues.close()
        m.dispose()
      })
    }
  }
})
