// Top-k classification of image files or uploads with any model that ends in a softmax: one
// result per image, in order; an image that cannot be decoded gets its reason, the rest go on.
import * as tf from '@tensorflow/tfjs'
import type { PredictionResult, PreprocessMode } from '../../shared/protocol'
import { decodeImage, ImageDecodeError, sourceName, type ImageSource } from '../images/decode'
import { preprocess } from './preprocess'

/** Indices of the `k` largest values, largest first. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b] - values[a])
    .slice(0, k)
}

export interface Classifier {
  model: tf.LayersModel
  inputSize: number
  preprocess: PreprocessMode
  /** The name of each output, in order. */
  labels: string[]
}

export async function classifyImages(classifier: Classifier, images: ImageSource[], top: number): Promise<PredictionResult[]> {
  const results: PredictionResult[] = []
  for (const source of images) {
    const file = sourceName(source)
    let image
    try {
      image = await decodeImage(source, classifier.inputSize)
    } catch (error) {
      if (!(error instanceof ImageDecodeError)) throw error
      results.push({ file, error: error.reason })
      continue
    }
    const out = tf.tidy(() => {
      const pixels = tf.tensor4d(image.data, [1, image.height, image.width, 3], 'int32')
      return classifier.model.predict(preprocess(pixels, classifier.preprocess)) as tf.Tensor
    })
    const values = await out.data()
    out.dispose()
    const best = topK(values, Math.min(top, classifier.labels.length))
    results.push({ file, predictions: best.map((i) => ({ label: classifier.labels[i], probability: values[i] })) })
  }
  return results
}
