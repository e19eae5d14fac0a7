// What a host can ask of the engine. The command line calls these in its own process; the app
// and the headless server reach them through the engine process (process.ts).
import path from 'node:path'
import { FreezeSpec, HeadConfig, type BackboneInfo, type BackendInfo, type DatasetReport, type ImagePage, type ModelSummary, type SplitName } from '../shared/protocol'
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

export { classifyImageNet } from './imagenet'
export { evaluateModel, predictWithModel } from './inference'
export { listRuns, readEvaluation } from './runs'
export { readMetadata } from './model/store'
export { train, type TrainOptions, type TrainResult } from './train/trainer'

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

// The datasets scanned last, so the thumbnail grid can page through one without scanning again.
const scanned = new Map<string, Dataset>()
const SCANNED_KEPT = 2

export async function scanDataset(dir: string, options: ScanOptions = {}): Promise<DatasetReport> {
  const dataset = await loadDataset(dir, options)
  scanned.delete(dataset.report.root)
  scanned.set(dataset.report.root, dataset)
  while (scanned.size > SCANNED_KEPT) scanned.delete(scanned.keys().next().value!)
  return dataset.report
}

/** One page of the images of `label` in `split`. */
export async function listImages(dir: string, split: SplitName, label: string, offset: number, limit: number): Promise<ImagePage> {
  const root = path.resolve(dir)
  if (!scanned.has(root)) await scanDataset(root)
  const dataset = scanned.get(root)!
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
}

/** The layer tree and parameter totals of a model before training it (what the tree view shows). */
export async function describeModel(options: DescribeOptions): Promise<ModelSummary> {
  await initBackend()
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
