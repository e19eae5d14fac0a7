// What a host can ask of the engine. The command line calls these in its own process; the app
// and the headless server reach them through the engine process (process.ts).
import path from 'node:path'
import {
  FreezeSpec,
  HeadConfig,
  type BackboneInfo,
  type BackendInfo,
  type DatasetReport,
  type ImagePage,
  type ModelSummary,
  type SplitName
} from '../shared/protocol'
import { initBackend } from './backend'
import { loadBackbone, type LoadOptions } from './backbones/load'
import { BACKBONES } from './backbones/registry'
import { isCached } from './backbones/weights'
import { loadDataset, type ScanOptions } from './datasets/scan'
import { describeRef, type Dataset } from './datasets/types'
import { studioHome } from './home'
import { buildTransferModel } from './model/build'
import { applyFreeze } from './model/freeze'
import { summarize } from './model/summary'
import { readMetadata } from './model/store'
import { loadStartingModel } from './train/start-from'

export { classifyImageNet } from './inference/imagenet'
export { evaluateModel, predictWithModel } from './inference/saved-model'
export { listFolderImages } from './inference/folder-images'
export { exportKerasModel, importedModelDir, importKerasModel, type KerasImportOptions } from './keras/model-io'
export { listRuns, readEvaluation } from './runs'
export { readMetadata }
export { resumeRun, train, type ResumeRunOptions, type TrainOptions, type TrainResult } from './train/trainer'
export { findLearningRate } from './train/lr-finder'
export { ensureSampleDataset } from './downloads/sample-dataset'
export { trainingSpeed } from './finetune/calibrate'
export { FeatureMemo } from './train/features'

export function engineInfo(): Promise<BackendInfo> {
  return initBackend()
}

export async function listBackbones(home = studioHome()): Promise<BackboneInfo[]> {
  return Promise.all(
    BACKBONES.map(async ({ keras, featureParameters, ...spec }) => ({
      ...spec,
      featureParameters: featureParameters ?? null,
      weights: keras ? ('keras-h5' as const) : ('tfjs' as const),
      cached: await isCached(spec, home)
    }))
  )
}

/** The datasets scanned last, so the thumbnail grid can page through one without scanning again. */
export class ScannedDatasets {
  private readonly kept = new Map<string, Dataset>()
  constructor(private readonly limit = 2) {}

  remember(dataset: Dataset): void {
    this.kept.delete(dataset.report.root)
    this.kept.set(dataset.report.root, dataset)
    while (this.kept.size > this.limit) this.kept.delete(this.kept.keys().next().value!)
  }

  get(root: string): Dataset | undefined {
    return this.kept.get(root)
  }

  clear(): void {
    this.kept.clear()
  }
}

export async function scanDataset(dir: string, options: ScanOptions = {}, kept?: ScannedDatasets): Promise<DatasetReport> {
  const dataset = await loadDataset(dir, options)
  kept?.remember(dataset)
  return dataset.report
}

/** One page of the images of `label` in `split` (scanning the folder first when `kept` lacks it). */
export async function listImages(kept: ScannedDatasets, dir: string, split: SplitName, label: string, offset: number, limit: number): Promise<ImagePage> {
  const root = path.resolve(dir)
  if (!kept.get(root)) await scanDataset(root, {}, kept)
  const dataset = kept.get(root)!
  const index = dataset.classes.indexOf(label)
  if (index < 0) throw new Error(`No class "${label}" in ${root}`)
  const items = dataset[split].filter((item) => item.label === index)
  return { total: items.length, files: items.slice(offset, offset + limit).map((item) => describeRef(item.ref)) }
}

export interface DescribeOptions extends LoadOptions {
  backbone: string
  head?: Partial<HeadConfig>
  freeze?: FreezeSpec
  classes?: number
  /** Side of the images fed in; the backbone's own size when absent. */
  inputSize?: number
  /** A saved model to continue training: described in place of the backbone and a new head. */
  startFrom?: string
}

/** The layer tree of a saved model as training would continue it (its classifier the head). */
async function describeSavedModel(dir: string, freeze: FreezeSpec = { kind: 'all' }): Promise<ModelSummary> {
  const { labels } = await readMetadata(dir)
  const { tm } = await loadStartingModel(dir, labels, null)
  try {
    applyFreeze(tm, freeze)
    return summarize(tm)
  } finally {
    tm.model.dispose()
  }
}

/** The layer tree and parameter totals of a model before training it (what the tree view shows). */
export async function describeModel(options: DescribeOptions): Promise<ModelSummary> {
  await initBackend()
  if (options.startFrom) return describeSavedModel(options.startFrom, options.freeze)
  const loaded = await loadBackbone(options.backbone, options)
  const classes = Array.from({ length: options.classes ?? 2 }, (_, i) => `class ${i + 1}`)
  const tm = buildTransferModel(loaded, {
    classes,
    head: HeadConfig.parse(options.head ?? {}),
    inputSize: options.inputSize ?? loaded.spec.inputSize,
    seed: 0
  })
  try {
    applyFreeze(tm, options.freeze ?? { kind: 'all' })
    return summarize(tm)
  } finally {
    tm.model.dispose()
    loaded.model.dispose()
  }
}
