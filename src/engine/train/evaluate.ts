// Scores a model on a batch source: loss and accuracy as Keras reports them, the confusion
// matrix, per-class precision / recall / F1, and the images it got wrong.
import * as tf from '@tensorflow/tfjs'
import type { EvaluationReport, SkippedFile } from '../../shared/protocol'
import { categoricalCrossentropy } from './loss'
import type { BatchSource } from './sources'
import type { TrainingStep } from './step'

export interface Scored {
  loss: number
  accuracy: number
  labels: Int32Array
  predicted: Int32Array
  confidence: Float32Array
  files: string[]
}

/**
 * Gives a batch's class probabilities (a new tensor the caller disposes). `takesPixels`: it is fed
 * RGB values 0..255, not preprocessed ones (TrainingStep.takesPixels); only a step's own engine
 * can be, so the flag travels with its predictor and a tfjs model is always fed preprocessed values.
 */
export interface Predictor {
  predict: (x: tf.Tensor) => Promise<tf.Tensor>
  takesPixels: boolean
}

/** Scores the weights being trained: on the step's own engine when it has one, else the tfjs model. */
export function scoreCurrent(step: TrainingStep, suffix: tf.LayersModel, source: BatchSource, batchSize: number, classCount: number): Promise<Scored> {
  const model = step.predict ? { predict: step.predict, takesPixels: step.takesPixels ?? false } : suffix
  return score(model, source, batchSize, classCount)
}

/** Runs every sample of `source` through `model` (or a predictor) in inference mode, in order. */
export async function score(model: tf.LayersModel | Predictor, source: BatchSource, batchSize: number, classCount: number): Promise<Scored> {
  const predictor = 'takesPixels' in model ? model : null
  const labels: number[] = []
  const predicted: number[] = []
  const confidence: number[] = []
  const files: string[] = []
  let lossSum = 0
  for (let start = 0; start < source.size; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, source.size - start) }, (_, i) => start + i)
    const batch = await source.batch(indices, false, predictor?.takesPixels ?? false)
    if (batch.labels.length > 0) {
      const given = predictor ? await predictor.predict(batch.x) : null
      const [loss, best, top] = tf.tidy(() => {
        const probabilities = given ?? ((model as tf.LayersModel).predict(batch.x) as tf.Tensor)
        const oneHot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), classCount)
        return [
          categoricalCrossentropy(oneHot, probabilities).dataSync()[0],
          probabilities.argMax(-1).dataSync() as Int32Array,
          probabilities.max(-1).dataSync() as Float32Array
        ] as const
      })
      given?.dispose()
      lossSum += loss * batch.labels.length
      labels.push(...batch.labels)
      predicted.push(...best)
      confidence.push(...top)
      files.push(...batch.files)
    }
    batch.x.dispose()
  }
  const correct = labels.filter((label, i) => label === predicted[i]).length
  return {
    loss: labels.length ? lossSum / labels.length : NaN,
    accuracy: labels.length ? correct / labels.length : NaN,
    labels: Int32Array.from(labels),
    predicted: Int32Array.from(predicted),
    confidence: Float32Array.from(confidence),
    files
  }
}

export function evaluationReport(scored: Scored, classes: string[], skipped: SkippedFile[]): EvaluationReport {
  const confusion = classes.map(() => classes.map(() => 0))
  scored.labels.forEach((label, i) => confusion[label][scored.predicted[i]]++)
  const perClass = classes.map((label, c) => {
    const truePositives = confusion[c][c]
    const support = confusion[c].reduce((a, b) => a + b, 0)
    const predictedCount = confusion.reduce((sum, row) => sum + row[c], 0)
    const precision = predictedCount ? truePositives / predictedCount : 0
    const recall = support ? truePositives / support : 0
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0
    return { label, precision, recall, f1, support }
  })
  const misclassified = Array.from(scored.labels.keys())
    .filter((i) => scored.labels[i] !== scored.predicted[i])
    .map((i) => ({
      file: scored.files[i],
      trueLabel: classes[scored.labels[i]],
      predictedLabel: classes[scored.predicted[i]],
      confidence: scored.confidence[i]
    }))
    .sort((a, b) => b.confidence - a.confidence)
  return { accuracy: scored.accuracy, loss: scored.loss, classes, confusion, perClass, misclassified, skipped }
}
