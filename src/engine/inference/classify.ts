// Top-k classification of image files or uploads with any model that ends in a softmax: one
// result per image, in order; an image that cannot be decoded gets its reason, the rest go on.
import * as tf from '@tensorflow/tfjs'
import type { FeatureStats, PredictionResult, PreprocessMode } from '../../shared/protocol'
import { unsureMark } from '../../shared/unsure'
import { decodeImage, ImageDecodeError, sourceName, type ImageSource } from '../images/decode'
import { novelty } from '../train/feature-stats'
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
  /** Where the training photos lie in the pooled features; without them only low probabilities are marked unsure. */
  featureStats?: FeatureStats
}

/** The model with the pooled features as a second output, when the statistics name a layer it has. */
function withFeatures(classifier: Classifier): tf.LayersModel | null {
  const layer = classifier.featureStats?.layer
  if (!layer || !classifier.model.layers.some((l) => l.name === layer)) return null
  // Shares the model's layers: disposing the model disposes their weights, so this is never disposed itself.
  return tf.model({ inputs: classifier.model.inputs, outputs: [classifier.model.getLayer(layer).output as tf.SymbolicTensor, classifier.model.outputs[0]] })
}

export async function classifyImages(classifier: Classifier, images: ImageSource[], top: number): Promise<PredictionResult[]> {
  const results: PredictionResult[] = []
  const twoOutputs = withFeatures(classifier)
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
    const [out, pooled] = tf.tidy((): tf.Tensor[] => {
      const pixels = tf.tensor4d(image.data, [1, image.height, image.width, 3], 'int32')
      const input = preprocess(pixels, classifier.preprocess)
      if (!twoOutputs) return [classifier.model.predict(input) as tf.Tensor]
      const [features, probabilities] = twoOutputs.predict(input) as tf.Tensor[]
      return [probabilities, features]
    })
    const values = await out.data()
    const distance = pooled && classifier.featureStats ? novelty(classifier.featureStats, await pooled.data()) : null
    tf.dispose([out, ...(pooled ? [pooled] : [])])
    const best = topK(values, Math.min(top, classifier.labels.length))
    results.push({
      file,
      predictions: best.map((i) => ({ label: classifier.labels[i], probability: values[i] })),
      novelty: distance,
      unsure: unsureMark(values[best[0]], distance)
    })
  }
  return results
}
