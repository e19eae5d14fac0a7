// The learning-rate range test (Smith 2015, fastai's lr_find): train the configured model for a
// short while with a learning rate rising exponentially each step, record the loss, and stop when
// it blows up. The loss falls fastest somewhat below the rate where it is lowest: that is the
// suggestion. It trains a throw-away copy of the head: nothing is saved, no run folder is made,
// and the frozen prefix's outputs land in the feature cache, so the training run that follows
// starts at once.
import * as tf from '@tensorflow/tfjs'
import type { LrFinderResult, TrainConfig, TrainEvent } from '../../shared/protocol'
import { initBackend } from '../backend'
import { studioHome } from '../home'
import { seededRandom, shuffled } from '../util/random'
import { chooseTrainingStep } from './native-step'
import { prepareModel, prepareSources, releaseSession } from './session'
import type { TrainingStep } from './step'
import { ExtractionStopped, type FeatureMemo } from './features'

export interface LrFinderOptions {
  home?: string
  mirror?: string
  onEvent?: (event: TrainEvent) => void
  signal?: AbortSignal
  minLr?: number
  maxLr?: number
  steps?: number
  /** Features of recent runs kept in memory (the engine session's). */
  features?: FeatureMemo
}

/** Smoothing of the recorded loss (fastai's 0.98): one batch's loss is too noisy to read a slope from. */
const SMOOTHING = 0.98
/** Stop once the smoothed loss is this many times its lowest: past here it only diverges. */
const DIVERGED = 4

/** `config` was validated where it entered the engine. */
export async function findLearningRate(config: TrainConfig, options: LrFinderOptions = {}): Promise<LrFinderResult> {
  const emit = options.onEvent ?? (() => {})
  const backend = await initBackend()
  const minLr = options.minLr ?? 1e-7
  const maxLr = options.maxLr ?? 1
  const steps = options.steps ?? 100
  const home = options.home ?? studioHome()
  const prepared = await prepareModel(config, { home, mirror: options.mirror, emit })
  const { part, tm, data } = prepared
  const random = seededRandom(config.seed)
  let made
  try {
    made = await prepareSources(prepared, config, { home, inferenceBackend: backend.inference, random, emit, signal: options.signal, memo: options.features })
  } catch (error) {
    await releaseSession(prepared, null)
    // Stopped while the features were computed: a stop, not a failure; nothing was tried.
    if (error instanceof ExtractionStopped && options.signal?.aborted) return { lrs: [], losses: [], suggestion: null }
    throw error
  }
  const { sources } = made
  const lrs: number[] = []
  const losses: number[] = []
  let step: TrainingStep | null = null
  await tf.setBackend(backend.training)
  try {
    // The same engine as the training run would use: on unfrozen convolutions, the native step.
    step = (await chooseTrainingStep(tm, part, config, { trainingBackend: backend.training, classCount: data.classes.length })).step
    let order: number[] = []
    let average = 0
    let lowest = Infinity
    for (let i = 0; i < steps; i++) {
      if (options.signal?.aborted) break
      const lr = minLr * (maxLr / minLr) ** (i / (steps - 1))
      step.setLearningRate(lr)
      if (order.length < config.batchSize)
        order = [
          ...order,
          ...shuffled(
            Array.from({ length: sources.train.size }, (_, k) => k),
            random
          )
        ]
      const batch = await sources.train.batch(order.splice(0, config.batchSize), true, step.takesPixels)
      if (batch.labels.length === 0) {
        batch.x.dispose()
        continue
      }
      const { loss } = await step.run(batch.x, batch.labels).finally(() => batch.x.dispose())
      average = SMOOTHING * average + (1 - SMOOTHING) * loss
      const smoothed = average / (1 - SMOOTHING ** (lrs.length + 1))
      lrs.push(lr)
      losses.push(smoothed)
      emit({ event: 'status', phase: 'training', message: 'Finding a learning rate', done: i + 1, total: steps })
      lowest = Math.min(lowest, smoothed)
      if (!Number.isFinite(smoothed) || (lrs.length > 5 && smoothed > DIVERGED * lowest)) break
    }
  } finally {
    await tf.setBackend(backend.inference)
    await step?.close()
    await releaseSession(prepared, made)
  }
  return { lrs, losses, suggestion: suggestLearningRate(lrs, losses) }
}

/**
 * Where the smoothed loss falls fastest against log(lr), before its minimum: training there
 * makes the most progress a step while still far from where it diverges. Null when the loss never
 * fell (nothing to learn at any rate tried, or too few steps).
 */
export function suggestLearningRate(lrs: number[], losses: number[]): number | null {
  const finite = losses.findIndex((l) => !Number.isFinite(l))
  const n = finite < 0 ? losses.length : finite
  if (n < 5) return null
  let bottom = 0
  for (let i = 1; i < n; i++) if (losses[i] < losses[bottom]) bottom = i
  if (bottom < 2 || losses[bottom] >= losses[0]) return null
  let steepest = -1
  let slope = 0
  // Central differences: the slope at a point, not between two.
  for (let i = 1; i < bottom; i++) {
    const s = (losses[i + 1] - losses[i - 1]) / (Math.log(lrs[i + 1]) - Math.log(lrs[i - 1]))
    if (s < slope) {
      slope = s
      steepest = i
    }
  }
  return steepest < 0 ? null : lrs[steepest]
}
