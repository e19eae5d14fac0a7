// Using a saved model: classify image files with its own labels, or score it on a dataset.
import type { EvaluationReport, PredictionResult } from '../../shared/protocol'
import { initBackend } from '../backend'
import { loadDataset } from '../datasets/scan'
import { classifyImages } from './classify'
import type { ImageSource } from '../images/decode'
import { loadModel } from '../model/store'
import { evaluationReport, score } from '../train/evaluate'
import { loadedView, partition, prefixSpec, type Partition } from '../train/partition'
import { createPrefixRunner, lazyPrefixRunner } from '../prefix/choose'
import { streamingSource } from '../train/sources'

const EVALUATION_BATCH = 32

export async function predictWithModel(modelDir: string, files: ImageSource[], top = 5): Promise<PredictionResult[]> {
  await initBackend()
  const { model, metadata } = await loadModel(modelDir)
  try {
    return await classifyImages(
      { model, inputSize: metadata.inputSize, preprocess: metadata.preprocess, labels: metadata.labels, featureStats: metadata.featureStats },
      files,
      top
    )
  } finally {
    model.dispose()
  }
}

/**
 * Scores a saved model on `dataDir`: its test split if it has one, else its validation folder,
 * else every image in it. Classes are matched by name with the model's labels.
 */
export async function evaluateModel(modelDir: string, dataDir: string): Promise<EvaluationReport> {
  const backend = await initBackend()
  const { model, metadata } = await loadModel(modelDir)
  let part: Partition | null = null
  let runner: ReturnType<typeof lazyPrefixRunner> | null = null
  try {
    const dataset = await loadDataset(dataDir, { valSplit: 0.5 })
    const { report } = dataset
    const items = dataset.test.length > 0 ? dataset.test : report.validation.kind === 'folder' ? dataset.val : [...dataset.train, ...dataset.val]
    const unknown = dataset.classes.filter((c) => !metadata.labels.includes(c))
    if (unknown.length > 0) {
      throw new Error(`${dataDir} has classes the model does not know: ${unknown.join(', ')} (model classes: ${metadata.labels.join(', ')})`)
    }
    const relabelled = items.map((item) => ({ ...item, label: metadata.labels.indexOf(dataset.classes[item.label]) }))
    const skipped = [...report.skipped]
    // Everything but the last layer runs on the fastest runner; the last layer gives the probabilities.
    const view = loadedView(model, metadata.inputSize)
    part = partition(view, () => true)
    const spec = prefixSpec(view, part, metadata.preprocess)
    runner = spec && lazyPrefixRunner(() => createPrefixRunner(spec, { inferenceBackend: backend.inference }))
    const source = streamingSource(relabelled, {
      runner: runner?.get ?? null,
      featureShape: part.featureShape,
      size: metadata.inputSize,
      preprocess: metadata.preprocess,
      augment: null,
      random: Math.random,
      onBroken: (file, reason) => skipped.push({ file, reason })
    })
    const scored = await score(part.suffix, source, EVALUATION_BATCH, metadata.labels.length)
    return evaluationReport(scored, metadata.labels, skipped)
  } finally {
    await runner?.close()
    part?.dispose()
    model.dispose()
  }
}
