// Classification with a backbone's own ImageNet top, named as Keras' decode_predictions names
// the classes (its first synonym: "tabby", "espresso").
import { createRequire } from 'node:module'
import * as tf from '@tensorflow/tfjs'
import type { PredictionResult } from '../shared/protocol'
import { loadBackbone, type LoadOptions } from './backbones/load'
import { decodeImage, ImageDecodeError, sourceName, type ImageSource } from './images/decode'
import { preprocess } from './preprocess'

const require = createRequire(import.meta.url)

let classNames: string[] | undefined

/** The 1000 ImageNet class names in the order of the classifier's outputs. */
export function imagenetClasses(): string[] {
  if (!classNames) {
    const { IMAGENET_CLASSES } = require('@tensorflow-models/mobilenet/dist/imagenet_classes.js') as {
      IMAGENET_CLASSES: Record<number, string>
    }
    classNames = Array.from({ length: 1000 }, (_, i) => IMAGENET_CLASSES[i])
  }
  return classNames
}

export function shortName(className: string): string {
  return className.split(',')[0].trim()
}

/** Indices of the `k` largest values, largest first. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b] - values[a])
    .slice(0, k)
}

export interface ClassifyOptions extends LoadOptions {
  top?: number
}

/** One result per file, in order; a file that cannot be decoded gets an error, the rest go on. */
export async function classifyImageNet(backbone: string, files: ImageSource[], options: ClassifyOptions = {}): Promise<PredictionResult[]> {
  const { spec, model } = await loadBackbone(backbone, options)
  const names = imagenetClasses()
  const results: PredictionResult[] = []
  try {
    for (const file of files) {
      let image
      try {
        image = await decodeImage(file, spec.inputSize)
      } catch (error) {
        if (!(error instanceof ImageDecodeError)) throw error
        results.push({ file: sourceName(file), error: error.reason })
        continue
      }
      const probabilities = tf.tidy(() => {
        const pixels = tf.tensor4d(image.data, [1, image.height, image.width, 3], 'int32')
        return model.predict(preprocess(pixels, spec.preprocess)) as tf.Tensor
      })
      const values = await probabilities.data()
      probabilities.dispose()
      results.push({
        file: sourceName(file),
        predictions: topK(values, options.top ?? 5).map((i) => ({ label: shortName(names[i]), probability: values[i] }))
      })
    }
  } finally {
    model.dispose()
  }
  return results
}
