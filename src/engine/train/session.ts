// What every use of a training configuration sets up first: the labelled images, the backbone
// with its new head, frozen as asked and split into a frozen prefix and a trainable suffix, and
// the batch sources (cached prefix outputs, or images through the prefix every batch). The
// training loop and the learning-rate finder start from here.
import path from 'node:path'
import type { FreezeSpec, TrainConfig, TrainEvent } from '../../shared/protocol'
import { loadBackbone, type LoadedBackbone } from '../backbones/load'
import { buildTransferModel, type TransferModel } from '../model/build'
import { setBatchNormStatistics } from '../model/batchnorm'
import { applyFreeze } from '../model/freeze'
import { isAugmenting } from './augment'
import { prepareTrainingData, type TrainingData } from './data'
import { extractFeatures, featureCacheKey, weightsDigest, type FeatureMemo } from './features'
import { partition, prefixSpec, type Partition } from './partition'
import { createPrefixRunner, lazyPrefixRunner, type RunnerOptions } from '../prefix/choose'
import type { PrefixRunner } from '../prefix/runner'
import { cachedSource, streamingSource, type BatchSource } from './sources'
import { loadStartingModel } from './start-from'

/** Images per batch through the frozen prefix when caching features (bench/: throughput flattens out by here). */
const EXTRACT_BATCH = 8

export interface PreparedModel {
  data: TrainingData
  loaded: LoadedBackbone
  tm: TransferModel
  part: Partition
  /** Records an image that could not be read (once), and tells the listener. */
  onBroken: (file: string, reason: string) => void
}

export interface PrepareOptions {
  home: string
  mirror?: string
  emit: (event: TrainEvent) => void
  /** Refuses the data before the backbone is loaded (a resumed run checks its classes). */
  checkData?: (data: TrainingData) => void
  /** Which layers train, when not the config's own `freeze` (the head-only phase of a two-phase run). */
  freeze?: FreezeSpec
}

export async function prepareModel(config: TrainConfig, options: PrepareOptions): Promise<PreparedModel> {
  const { emit } = options
  emit({ event: 'status', phase: 'loading', message: `Scanning ${config.data}` })
  const data = await prepareTrainingData(config)
  options.checkData?.(data)
  for (const message of data.warnings) emit({ event: 'notice', message })
  const reported = new Set<string>()
  const onBroken = (file: string, reason: string): void => {
    if (reported.has(file)) return
    reported.add(file)
    data.skipped.push({ file, reason })
    emit({ event: 'skipped', file, reason })
  }

  if (config.startFrom) {
    emit({ event: 'status', phase: 'loading', message: `Loading ${config.startFrom}` })
    const { tm, loaded } = await loadStartingModel(config.startFrom, data.classes, data.nativeSize)
    applyFreeze(tm, config.freeze)
    return { data, loaded, tm, part: partition(tm), onBroken }
  }
  emit({ event: 'status', phase: 'loading', message: `Loading ${config.backbone}` })
  const loaded = await loadBackbone(config.backbone, {
    home: options.home,
    mirror: options.mirror,
    onProgress: (p) => emit({ event: 'status', phase: 'loading', message: `Downloading ${p.backbone}`, done: p.bytes, total: p.totalBytes ?? undefined }),
    onNotice: (message) => emit({ event: 'notice', message })
  })
  const inputSize = data.nativeSize ?? loaded.spec.inputSize
  const tm = buildTransferModel(loaded, { classes: data.classes, head: config.head, inputSize, seed: config.seed })
  applyFreeze(tm, options.freeze ?? config.freeze)
  setBatchNormStatistics(tm.model.layers, config.batchNormStatistics)
  return { data, loaded, tm, part: partition(tm), onBroken }
}

/**
 * Freezes the prepared model anew and splits it again (the second phase of a two-phase run); the
 * caller disposes the old partition once it no longer needs it.
 */
export function refreeze(prepared: PreparedModel, freeze: FreezeSpec): PreparedModel {
  applyFreeze(prepared.tm, freeze)
  return { ...prepared, part: partition(prepared.tm) }
}

export interface PreparedSources {
  sources: { train: BatchSource; val: BatchSource | null; test: BatchSource | null }
  /** Whether the prefix's outputs were computed once (else it runs every batch). */
  cached: boolean
  /** What runs the frozen prefix; already closed on the cached path. */
  runner: { close(): Promise<void> }
}

export interface SourceSettings {
  home: string
  inferenceBackend: RunnerOptions['inferenceBackend']
  /** Draws of the augmentation (the loop reseeds it every epoch). */
  random: () => number
  emit: (event: TrainEvent) => void
  signal?: AbortSignal
  /** Features of recent runs kept in memory (the engine session's). */
  memo?: FeatureMemo
}

export async function prepareSources({ tm, part, data, onBroken }: PreparedModel, config: TrainConfig, settings: SourceSettings): Promise<PreparedSources> {
  const { emit } = settings
  const augment = isAugmenting(config.augment) ? config.augment : null
  const cached = part.prefix !== null && augment === null && config.cacheFeatures
  emit({ event: 'path', path: cached ? 'cached-features' : 'end-to-end', reason: pathReason(part, augment !== null, config.cacheFeatures) })

  const spec = prefixSpec(tm, part, tm.backbone.preprocess)
  const runner = lazyPrefixRunner(async () => {
    const made = await createPrefixRunner(spec!, { inferenceBackend: settings.inferenceBackend, onNotice: (message) => emit({ event: 'notice', message }) })
    emit({ event: 'notice', message: `Frozen layers (up to ${part.cutLayer}) run on ${made.description}` })
    return made
  })
  const sources = await makeSources(tm, part, data, config, {
    cached,
    home: settings.home,
    runner: spec ? runner.get : null,
    augment,
    random: settings.random,
    onBroken,
    emit,
    signal: settings.signal,
    memo: settings.memo
  }).finally(() => (cached ? runner.close() : undefined))
  return { sources, cached, runner }
}

function pathReason(part: Partition, augmenting: boolean, cacheAllowed: boolean): string {
  if (part.prefix === null) return 'training starts at the first layer, so every batch runs the whole model with gradients'
  const frozen = `layers up to ${part.cutLayer} are frozen`
  if (augmenting) return `${frozen}, but augmentation changes the images every epoch: they run through the frozen layers each batch`
  if (!cacheAllowed) return `${frozen}; feature caching is turned off, so they run every batch`
  return `${frozen}: their outputs are computed once per image and reused every epoch`
}

interface SourceOptions {
  cached: boolean
  home: string
  /** What runs the frozen prefix (made on first use), or null when there is none. */
  runner: (() => Promise<PrefixRunner>) | null
  augment: TrainConfig['augment']
  random: () => number
  onBroken: (file: string, reason: string) => void
  emit: (event: TrainEvent) => void
  signal?: AbortSignal
  memo?: FeatureMemo
}

async function makeSources(tm: TransferModel, part: Partition, data: TrainingData, config: TrainConfig, options: SourceOptions) {
  const splits = { train: data.train, val: data.val, test: data.test }
  const make = async (name: keyof typeof splits): Promise<BatchSource | null> => {
    const items = splits[name]
    if (items.length === 0) return null
    if (!options.cached || !part.prefix || !options.runner) {
      return streamingSource(items, {
        runner: options.runner,
        featureShape: part.featureShape,
        size: tm.inputSize,
        preprocess: tm.backbone.preprocess,
        augment: name === 'train' ? options.augment : null,
        random: options.random,
        onBroken: options.onBroken,
        pixelCacheBytes: config.featureCacheMB * 1024 * 1024
      })
    }
    const key = featureCacheKey({
      backbone: tm.backbone.id,
      cutLayer: part.cutLayer!,
      preprocess: tm.backbone.preprocess,
      inputSize: tm.inputSize,
      prefixWeights: weightsDigest(part.prefix),
      items
    })
    const started = performance.now()
    const features = await extractFeatures(part.featureShape, items, {
      key,
      size: tm.inputSize,
      batchSize: EXTRACT_BATCH,
      budgetBytes: config.featureCacheMB * 1024 * 1024,
      cacheDir: path.join(options.home, 'cache', 'features'),
      onProgress: (done, total) => {
        // Time left at the rate measured so far in this split.
        const eta = done > 0 ? ((performance.now() - started) / 1000 / done) * (total - done) : undefined
        options.emit({ event: 'status', phase: 'extracting', message: `Computing ${name} features`, done, total, eta })
      },
      onBroken: options.onBroken,
      onNotice: (message) => options.emit({ event: 'notice', message }),
      signal: options.signal,
      runner: options.runner,
      memo: options.memo
    })
    return cachedSource(features, part.featureShape)
  }
  // A split that fails (or is stopped) closes the ones made before it.
  const made: BatchSource[] = []
  const kept = async (name: keyof typeof splits) => {
    const source = await make(name)
    if (source) made.push(source)
    return source
  }
  try {
    return { train: (await kept('train'))!, val: await kept('val'), test: await kept('test') }
  } catch (error) {
    for (const source of made) source.close()
    throw error
  }
}

/** Releases what prepareModel and prepareSources made; the trained model too unless the caller keeps it. */
export async function releaseSession(prepared: PreparedModel, made: PreparedSources | null, keepModel = false): Promise<void> {
  if (made) await releaseSources(made)
  prepared.part.dispose()
  if (!keepModel) prepared.tm.model.dispose()
  // The loaded backbone still holds its ImageNet top and a reference to every shared layer.
  prepared.loaded.model.dispose()
}

/** Closes the batch sources and what runs the prefix for them. */
export async function releaseSources(made: PreparedSources): Promise<void> {
  made.sources.train.close()
  made.sources.val?.close()
  made.sources.test?.close()
  await made.runner.close()
}
