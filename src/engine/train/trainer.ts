// A training run, as Keras' fit() with callbacks would do it, on our split of the model: frozen
// prefix (cached or run per batch on the inference backend) and trainable suffix (a TrainingStep).
// This file sets a run up (new or resumed), hands the epochs to fit() with the callbacks, moves a
// two-phase run from its head phase to fine-tuning, and saves what the run ends with.
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import type { EpochMetrics, TrainConfig, TrainEvent } from '../../shared/protocol'
import type { BackendInfo } from '../../shared/protocol'
import { initBackend } from '../backend'
import { studioHome } from '../home'
import { sharedWeightsDir } from '../model/shared-weights'
import { checkModelDestination, saveModel } from '../model/store'
import { writeFileAtomic } from '../util/atomic'
import { seededRandom } from '../util/random'
import { APP_VERSION } from '../version'
import { BestCheckpoint, EarlyStopping, ReduceLrOnPlateau, watched } from './callbacks'
import { ExtractionStopped, type FeatureMemo } from './features'
import { CallbackList, fit, type FitState } from './fit'
import { chooseTrainingStep } from './native-step'
import { openRun, type OpenedRun } from './resume'
import { ProgressEvents, RunStateSaver } from './run-callbacks'
import { finishRun, metadataFor, stoppedBeforeTraining, type TrainResult } from './run-end'
import { newRunDir, runLayout } from './run-layout'
import { prepareModel, prepareSources, refreeze, releaseSession, releaseSources, type PreparedModel, type PreparedSources } from './session'

export class TrainError extends Error {
  override name = 'TrainError'
}

export type { TrainResult }

export interface TrainOptions {
  onEvent?: (event: TrainEvent) => void
  signal?: AbortSignal
  home?: string
  /** Weights mirror (defaults to TRANSFER_STUDIO_WEIGHTS). */
  mirror?: string
  /** Hand the trained model to the caller (who must dispose it) instead of releasing it. */
  keepModel?: boolean
  /** Features of recent runs kept in memory (the engine session's); none reused when absent. */
  features?: FeatureMemo
}

export interface ResumeRunOptions extends TrainOptions {
  /** Where the resumed run saves its model (the run's own folder when absent: never a path read from its files). */
  out?: string
  /** Folders the user opened: the run's dataset folders must lie inside them (when given). */
  openedFolders?: string[]
}

/** Trains a new run; `config` was validated where it entered the engine. */
export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const backend = await initBackend()
  return runTraining(config, null, backend, options)
}

/** Continues the run saved in `runDir` with its own settings, after its last completed epoch. */
export async function resumeRun(runDir: string, options: ResumeRunOptions = {}): Promise<TrainResult> {
  // Before anything makes a tensor (the saved weights do).
  const backend = await initBackend()
  const opened = await openRun(runDir, { out: options.out, openedFolders: options.openedFolders })
  return runTraining(opened.config, opened, backend, options)
}

async function runTraining(config: TrainConfig, opened: OpenedRun | null, backend: BackendInfo, options: ResumeRunOptions): Promise<TrainResult> {
  const started = performance.now()
  const emit = options.onEvent ?? (() => {})
  const home = options.home ?? studioHome()
  const resumed = opened?.state ?? null
  const twoPhase = config.twoPhase
  // A two-phase run starts with the head alone; a resumed one where its saved weights belong.
  let phase: 1 | 2 | undefined = twoPhase ? (resumed?.state.phase ?? 1) : undefined
  let prepared: PreparedModel
  try {
    // Before hours of training: saving may only replace a folder that is one of our models.
    if (config.out) await checkModelDestination(path.resolve(config.out))
    prepared = await prepareModel(config, {
      home,
      mirror: options.mirror,
      emit,
      freeze: phase === 1 ? { kind: 'all' } : undefined,
      checkData: (data) => {
        if (resumed?.state.classes && !sameList(resumed.state.classes, data.classes)) {
          throw new TrainError(
            `${config.data} now has the classes ${data.classes.join(', ')}, but the run was trained on ${resumed.state.classes.join(', ')}: it cannot continue on other classes`
          )
        }
      }
    })
  } catch (error) {
    // A refused resume leaves no saved tensors behind in the engine process.
    if (resumed) tf.dispose([...resumed.weights, ...(resumed.best ?? []), ...resumed.optimizer.map((o) => o.tensor)])
    throw error
  }
  const { data, tm } = prepared

  const runDir = opened?.runDir ?? (await newRunDir(home, config.backbone))
  emit({ event: 'run', runDir, resumed: opened !== null })
  // Written before any feature is computed, so a run killed in its first epoch can still be resumed.
  const record = opened ? { ...opened.record, resumedAt: new Date().toISOString() } : { config, appVersion: APP_VERSION, startedAt: new Date().toISOString() }
  await writeFileAtomic(runLayout(runDir).record, JSON.stringify(record, null, 2))
  if (opened && !resumed) emit({ event: 'notice', message: `${runDir} stopped before its first epoch finished: training starts again from epoch 1` })
  if (opened?.record.config.out && !options.out) {
    emit({ event: 'notice', message: `The model is saved in ${runLayout(runDir).model}: a resumed run writes only inside its own folder unless told where` })
  }
  const modelDir = config.out ? path.resolve(config.out) : runLayout(runDir).model
  const classCount = data.classes.length
  const history: EpochMetrics[] = resumed?.state.history ?? []
  const previousSeconds = resumed?.state.seconds ?? 0
  const seconds = () => previousSeconds + (performance.now() - started) / 1000
  const notify = (message: string) => emit({ event: 'notice', message })

  let augmentRandom = seededRandom(config.seed)
  const sourcesFor = (model: PreparedModel) =>
    prepareSources(model, config, {
      home,
      inferenceBackend: backend.inference,
      random: () => augmentRandom(),
      emit,
      signal: options.signal,
      memo: options.features
    })
  let made: PreparedSources | null = null
  let state: FitState | null = null
  const hasVal = data.val.length > 0
  const best = new BestCheckpoint(
    watched(config.earlyStopping?.monitor ?? 'val_loss', hasVal),
    () =>
      saveModel(tm.model, metadataFor(tm, config, history, null, history.at(-1)?.epoch), runLayout(runDir).checkpoint, {
        sharedWeights: sharedWeightsDir(home)
      }),
    resumed && { weights: resumed.best, epoch: resumed.state.bestEpoch, tracker: resumed.state.trackers.best }
  )
  try {
    made = await sourcesFor(prepared).catch(stoppedAs(options.signal))
    if (made === null || options.signal?.aborted) {
      // Stopped while loading or computing features: nothing new trained, and nothing was lost.
      if (resumed) tf.dispose([...resumed.weights, ...resumed.optimizer.map((o) => o.tensor)])
      return stoppedBeforeTraining({ runDir, modelDir, history, bestEpoch: best.epoch, seconds: seconds(), cached: made?.cached ?? true }, emit)
    }
    let cached = made.cached
    if (resumed) {
      // Before the step is made: the native one starts from the model's weights.
      prepared.part.suffix.setWeights(resumed.weights)
      tf.dispose(resumed.weights)
    }
    const early =
      config.earlyStopping &&
      new EarlyStopping(watched(config.earlyStopping.monitor, hasVal), config.earlyStopping.patience, notify, resumed?.state.trackers.early)
    const plateau =
      config.reduceLrOnPlateau &&
      new ReduceLrOnPlateau(watched(config.reduceLrOnPlateau.monitor, hasVal), config.reduceLrOnPlateau, notify, resumed?.state.trackers.plateau)
    const callbacks = new CallbackList([
      best,
      early,
      plateau,
      new RunStateSaver(runDir, { config, classes: data.classes, best, early, plateau, seconds }),
      new ProgressEvents(emit, config.epochs, best)
    ])
    const lr = resumed?.state.lr ?? (phase === 2 ? twoPhase!.learningRate : config.learningRate)
    await tf.setBackend(backend.training)
    state = {
      step: await makeStep(prepared, phase === 2 ? twoPhase!.learningRate : config.learningRate),
      suffix: prepared.part.suffix,
      lr,
      history,
      stop: null,
      phase,
      lastVal: null,
      changedSinceScore: true
    }
    if (resumed) {
      await state.step.setOptimizerWeights(resumed.optimizer)
      state.step.setLearningRate(lr)
      notify(`Resuming ${runDir} after epoch ${resumed.state.epochsDone}`)
      if (phase === 2) emitPhase(history.find((m) => m.phase === 2)?.epoch ?? resumed.state.epochsDone + 1)
    }
    const plan = {
      batchSize: config.batchSize,
      seed: config.seed,
      classCount,
      signal: options.signal,
      reseedAugment: (epoch: number) => void (augmentRandom = seededRandom(config.seed * 1299709 + epoch))
    }
    await callbacks.trainBegin(state)
    const firstEpoch = (resumed?.state.epochsDone ?? 0) + 1
    const lastOfPhase = phase === 1 ? twoPhase!.headEpochs : config.epochs
    await fit(state, { ...plan, firstEpoch, lastEpoch: lastOfPhase, train: made.sources.train, val: made.sources.val }, callbacks)

    // A Stop that came as phase 1's last epoch ended does not start phase 2.
    if (phase === 1 && state.stop === null && options.signal?.aborted) state.stop = 'stopped'
    if (phase === 1 && state.stop === null) {
      // Phase 2: the chosen layers unfreeze; a fresh optimizer at the lower rate (as Keras's guide
      // recompiles), the features cut where the new frozen part ends.
      const headPhase = prepared
      prepared = refreeze(prepared, config.freeze)
      best.widen(headPhase.part.suffix, prepared.part.suffix)
      headPhase.part.dispose()
      phase = 2
      const headStep = state.step
      // The new step first (it copies the trained head): the finally below closes whichever is current.
      state.step = await makeStep(prepared, twoPhase!.learningRate)
      await headStep.close()
      Object.assign(state, { suffix: prepared.part.suffix, phase, lr: twoPhase!.learningRate, lastVal: null, changedSinceScore: true })
      emitPhase(lastOfPhase + 1)
      await releaseSources(made)
      made = null
      await tf.setBackend(backend.inference)
      made = await sourcesFor(prepared).catch(stoppedAs(options.signal))
      await tf.setBackend(backend.training)
      if (made === null) state.stop = 'stopped'
      else {
        cached = made.cached
        await callbacks.phaseBegin(state)
        await fit(state, { ...plan, firstEpoch: lastOfPhase + 1, lastEpoch: config.epochs, train: made.sources.train, val: made.sources.val }, callbacks)
      }
    }
    await callbacks.trainEnd(state)
    if (history.length === 0) return stoppedBeforeTraining({ runDir, modelDir, history, bestEpoch: null, seconds: seconds(), cached }, emit)

    return await finishRun({
      runDir,
      modelDir,
      home,
      config,
      tm,
      part: prepared.part,
      data,
      history,
      best,
      state,
      made,
      cached,
      seconds,
      emit,
      keepModel: options.keepModel
    })
  } finally {
    await tf.setBackend(backend.inference)
    best.dispose()
    if (resumed) tf.dispose(resumed.optimizer.map((o) => o.tensor))
    await state?.step.close()
    await releaseSession(prepared, made, options.keepModel)
  }

  function emitPhase(epoch: number): void {
    const layers = config.freeze.kind === 'upTo' ? `the layers after ${config.freeze.layer}` : 'the layers chosen'
    emit({ event: 'phase', phase: 2, epoch, message: `Phase 2 from epoch ${epoch}: ${layers} train too, at learning rate ${twoPhase!.learningRate}` })
  }

  async function makeStep(model: PreparedModel, learningRate: number) {
    const chosen = await chooseTrainingStep(tm, model.part, { ...config, learningRate }, { trainingBackend: backend.training, classCount })
    const part = model.part
    notify(`Unfrozen layers${part.cutLayer ? ` (after ${part.cutLayer})` : ''} train on ${chosen.step.description}: ${chosen.reason}`)
    return chosen.step
  }
}

/** Turns a stop during feature extraction into null (a stop, not a failure); other errors pass. */
const stoppedAs =
  (signal: AbortSignal | undefined) =>
  (error: unknown): null => {
    if (error instanceof ExtractionStopped && signal?.aborted) return null
    throw error
  }

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i])
