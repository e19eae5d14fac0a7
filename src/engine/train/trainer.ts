// A training run, as Keras' fit() with callbacks would do it, on our split of the model: frozen
// prefix (cached or run per batch on the inference backend) and trainable suffix (gradients on the
// training backend). Every epoch leaves a resumable state on disk; the best weights so far are
// kept in memory and as a checkpoint model.
import fs from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import type { TrainOutcome } from '../../shared/results'
import { describeSchemaError, TrainConfig, type EpochMetrics, type ModelMetadata, type TrainConfigInput, type TrainEvent } from '../../shared/protocol'
import { initBackend } from '../backend'
import { studioHome } from '../home'
import type { TransferModel } from '../model/build'
import { frozenLayers } from '../model/freeze'
import { pruneSharedWeights, sharedWeightsDir } from '../model/shared-weights'
import { checkModelDestination, saveModel } from '../model/store'
import { writeFileAtomic } from '../util/atomic'
import { seededRandom, shuffled } from '../util/random'
import { APP_VERSION } from '../version'
import { plateauRate, shouldStop, Tracker, watched } from './callbacks'
import { evaluationReport, score } from './evaluate'
import { openRun } from './resume'
import { runLayout, runsRoot } from './run-layout'
import { saveRunState, type RunState } from './run-state'
import { prepareModel, prepareSources, releaseSession, type PreparedModel } from './session'
import { chooseTrainingStep } from './native-step'
import type { TrainingStep } from './step'

const BATCH_EVENT_INTERVAL_MS = 250

export class TrainError extends Error {
  override name = 'TrainError'
}

export interface TrainOptions {
  onEvent?: (event: TrainEvent) => void
  signal?: AbortSignal
  home?: string
  /** Weights mirror (defaults to TRANSFER_STUDIO_WEIGHTS). */
  mirror?: string
  /** Continue the run saved in this folder (its own configuration is used). */
  resume?: string
  /** Where a resumed run saves its model (the run's own folder when absent: never a path read from its files). */
  out?: string
  /** Folders the user opened: a resumed run's dataset folders must lie inside them (when given). */
  openedFolders?: string[]
  /** Hand the trained model to the caller (who must dispose it) instead of releasing it. */
  keepModel?: boolean
}

/** What a run ends with (the protocol's TrainOutcome), and the live model when asked for. */
export interface TrainResult extends TrainOutcome {
  /** The trained model, when TrainOptions.keepModel asked for it. */
  model?: TransferModel
}

export function parseTrainConfig(input: TrainConfigInput): TrainConfig {
  const parsed = TrainConfig.safeParse(input)
  if (!parsed.success) throw new TrainError(`Invalid training settings: ${describeSchemaError(parsed.error)}`)
  return parsed.data
}

export async function train(input: TrainConfigInput | null, options: TrainOptions = {}): Promise<TrainResult> {
  const started = performance.now()
  const emit = options.onEvent ?? (() => {})
  const home = options.home ?? studioHome()
  // Before anything makes a tensor (a resumed run's saved weights do).
  const backend = await initBackend()
  const opened = options.resume ? await openRun(options.resume, { out: options.out, openedFolders: options.openedFolders }) : null
  const resumed = opened?.state ?? null
  if (!opened && !input) throw new TrainError('Nothing to train: give training settings or a run to resume')
  const config = opened ? opened.config : parseTrainConfig(input!)
  let prepared: PreparedModel
  try {
    // Before hours of training: saving may only replace a folder that is one of our models.
    if (config.out) await checkModelDestination(path.resolve(config.out))
    prepared = await prepareModel(config, {
      home,
      mirror: options.mirror,
      emit,
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
  const { data, tm, part } = prepared

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
  // The frozen layers' weights are one file in the home that every model and checkpoint links to.
  const sharing = { sharedWeights: sharedWeightsDir(home) }
  let augmentRandom = seededRandom(config.seed)
  const made = await prepareSources(prepared, config, {
    home,
    inferenceBackend: backend.inference,
    random: () => augmentRandom(),
    emit,
    signal: options.signal
  })
  const { sources, cached } = made

  const classCount = data.classes.length
  if (resumed) {
    // Before the step is made: the native one starts from the model's weights.
    part.suffix.setWeights(resumed.weights)
    tf.dispose(resumed.weights)
  }
  let step: TrainingStep | null = null
  const monitor = config.earlyStopping?.monitor ?? 'val_loss'
  const hasVal = sources.val !== null
  const best = new Tracker(watched(monitor, hasVal))
  const early = config.earlyStopping ? new Tracker(watched(config.earlyStopping.monitor, hasVal)) : null
  const plateau = config.reduceLrOnPlateau ? new Tracker(watched(config.reduceLrOnPlateau.monitor, hasVal)) : null
  let history: EpochMetrics[] = []
  let lr = config.learningRate
  let bestWeights: tf.Tensor[] | null = null
  let bestEpoch: number | null = null
  let previousSeconds = 0
  let firstEpoch = 1
  if (resumed) {
    bestWeights = resumed.best
    ;({ history, lr, bestEpoch } = resumed.state)
    previousSeconds = resumed.state.seconds
    best.restore(resumed.state.trackers.best)
    if (resumed.state.trackers.early) early?.restore(resumed.state.trackers.early)
    if (resumed.state.trackers.plateau) plateau?.restore(resumed.state.trackers.plateau)
    firstEpoch = resumed.state.epochsDone + 1
    emit({ event: 'notice', message: `Resuming ${runDir} after epoch ${resumed.state.epochsDone}` })
  }

  const dropouts = part.suffix.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as Array<{ seed?: number }>
  let stopped: TrainResult['stopped'] = 'completed'
  const epochSeconds: number[] = []
  // The last validation score, and whether the weights changed after it: scoring the
  // validation set again is a full pass through the backbone on the end-to-end path.
  let lastVal: Awaited<ReturnType<typeof score>> | null = null
  let changedSinceScore = true

  await tf.setBackend(backend.training)
  try {
    const chosen = await chooseTrainingStep(tm, part, config, { trainingBackend: backend.training, classCount })
    step = chosen.step
    emit({ event: 'notice', message: `Unfrozen layers${part.cutLayer ? ` (after ${part.cutLayer})` : ''} train on ${step.description}: ${chosen.reason}` })
    if (resumed) {
      await step.setOptimizerWeights(resumed.optimizer)
      step.setLearningRate(lr)
    }
    for (let epoch = firstEpoch; epoch <= config.epochs; epoch++) {
      const epochStart = performance.now()
      // Every epoch draws from its own seeded streams, so a resumed run repeats an unbroken one.
      const order = shuffled(
        Array.from({ length: sources.train.size }, (_, i) => i),
        seededRandom(config.seed * 7919 + epoch)
      )
      const dropoutRandom = seededRandom(config.seed * 104729 + epoch)
      augmentRandom = seededRandom(config.seed * 1299709 + epoch)
      const batches = Math.ceil(order.length / config.batchSize)
      let lossSum = 0
      let correct = 0
      let seen = 0
      let lastEvent = 0
      for (let b = 0; b < batches; b++) {
        if (options.signal?.aborted) {
          stopped = 'stopped'
          break
        }
        const batch = await sources.train.batch(order.slice(b * config.batchSize, (b + 1) * config.batchSize), true)
        if (batch.labels.length === 0) {
          batch.x.dispose()
          continue
        }
        for (const dropout of dropouts) dropout.seed = Math.floor(dropoutRandom() * 2 ** 31)
        const { loss, right } = await step.run(batch.x, batch.labels).finally(() => batch.x.dispose())
        changedSinceScore = true
        lossSum += loss * batch.labels.length
        correct += right
        seen += batch.labels.length
        const now = performance.now()
        if (now - lastEvent >= BATCH_EVENT_INTERVAL_MS || b === batches - 1) {
          lastEvent = now
          const perBatch = (now - epochStart) / 1000 / (b + 1)
          emit({
            event: 'batch',
            epoch,
            batch: b + 1,
            batches,
            loss: lossSum / seen,
            acc: correct / seen,
            eta: perBatch * (batches - b - 1) + perBatch * batches * (config.epochs - epoch)
          })
        }
      }
      if (seen === 0) break // stopped before this epoch did anything
      step.sync()

      const val = sources.val ? await score(part.suffix, sources.val, config.batchSize, classCount) : null
      lastVal = val
      changedSinceScore = false
      const seconds = (performance.now() - epochStart) / 1000
      epochSeconds.push(seconds)
      const metrics: EpochMetrics = {
        epoch,
        loss: lossSum / seen,
        acc: correct / seen,
        val_loss: val?.loss ?? null,
        val_acc: val?.accuracy ?? null,
        val_count: val?.labels.length ?? null,
        lr,
        seconds
      }
      history.push(metrics)
      const improved = best.update(metrics)
      if (improved) {
        tf.dispose(bestWeights ?? [])
        bestWeights = part.suffix.getWeights().map((w) => tf.keep(w.clone()))
        bestEpoch = epoch
        await saveModel(tm.model, metadataFor(tm, config, history, null), runLayout(runDir).checkpoint, sharing)
      }
      const earlyStop = early !== null && (early.update(metrics), shouldStop(early, config.earlyStopping!.patience))
      if (plateau) {
        plateau.update(metrics)
        const next = plateauRate(plateau, lr, config.reduceLrOnPlateau!)
        if (next !== lr) {
          lr = next
          step.setLearningRate(lr)
          emit({ event: 'notice', message: `Epoch ${epoch}: learning rate reduced to ${lr}` })
        }
      }
      const state: RunState = {
        config,
        epochsDone: epoch,
        history,
        lr,
        bestEpoch,
        trackers: { best: best.state(), early: early?.state() ?? null, plateau: plateau?.state() ?? null },
        seconds: previousSeconds + (performance.now() - started) / 1000,
        classes: data.classes
      }
      const moments = await step.optimizerWeights()
      try {
        await saveRunState(runDir, state, part.suffix.getWeights(), bestWeights, moments)
      } finally {
        tf.dispose(moments.map((m) => m.tensor))
      }
      const meanEpoch = epochSeconds.reduce((a, s) => a + s, 0) / epochSeconds.length
      emit({ event: 'epoch', ...metrics, epochs: config.epochs, eta: meanEpoch * (config.epochs - epoch), best: improved })
      if (stopped === 'stopped') break
      if (earlyStop) {
        stopped = 'early-stopping'
        emit({ event: 'notice', message: `Early stopping after epoch ${epoch}: ${early!.watched} has not improved for ${config.earlyStopping!.patience} epochs` })
        break
      }
    }

    step.sync()
    // A stopped run keeps its best model; early stopping does when asked to (restore_best_weights).
    const restore = stopped === 'stopped' || (config.earlyStopping?.restoreBest ?? false)
    if (restore && bestWeights) {
      part.suffix.setWeights(bestWeights)
      changedSinceScore = true
    }

    const finalVal = sources.val && (changedSinceScore || !lastVal) ? await score(part.suffix, sources.val, config.batchSize, classCount) : lastVal
    const test = sources.test ? await score(part.suffix, sources.test, config.batchSize, classCount) : null
    emit({ event: 'status', phase: 'saving', message: `Saving the model to ${modelDir}` })
    const last = history.at(-1)
    await saveModel(
      tm.model,
      metadataFor(tm, config, history, {
        loss: last?.loss ?? null,
        acc: last?.acc ?? null,
        val_loss: finalVal?.loss ?? null,
        val_acc: finalVal?.accuracy ?? null,
        val_count: finalVal?.labels.length ?? null,
        test_acc: test?.accuracy ?? null,
        epochs: history.length
      }),
      modelDir,
      sharing
    )
    // Shared files that deleted runs no longer link to.
    await pruneSharedWeights(sharing.sharedWeights)
    if (finalVal) {
      const report = evaluationReport(finalVal, data.classes, data.skipped)
      await fs.writeFile(runLayout(runDir).evaluation, JSON.stringify(report, null, 2))
    }
    const seconds = previousSeconds + (performance.now() - started) / 1000
    const result: TrainResult = {
      runDir,
      modelDir,
      history,
      path: cached ? 'cached-features' : 'end-to-end',
      stopped,
      valAcc: finalVal?.accuracy ?? null,
      testAcc: test?.accuracy ?? null,
      seconds,
      model: options.keepModel ? tm : undefined
    }
    emit({ event: 'done', val_acc: result.valAcc, val_count: finalVal?.labels.length ?? null, test_acc: result.testAcc, seconds, model: modelDir, epochs: history.length, stopped })
    return result
  } finally {
    await tf.setBackend(backend.inference)
    for (const dropout of dropouts) dropout.seed = undefined
    tf.dispose(bestWeights ?? [])
    if (resumed) tf.dispose(resumed.optimizer.map((o) => o.tensor))
    await step?.close()
    await releaseSession(prepared, made, options.keepModel)
  }
}

function metadataFor(tm: TransferModel, config: TrainConfig, history: EpochMetrics[], metrics: ModelMetadata['metrics'] | null) {
  const last = history.at(-1)
  // Field order is the schema's; `out` is where the model went, not how it was trained.
  const { out: _out, ...training } = config
  return {
    format: 'transfer-studio-model' as const,
    formatVersion: 1 as const,
    appVersion: APP_VERSION,
    createdAt: new Date().toISOString(),
    labels: tm.classes,
    backbone: tm.backbone.id,
    preprocess: tm.backbone.preprocess,
    inputSize: tm.inputSize,
    head: tm.head,
    freeze: config.freeze,
    frozenLayers: frozenLayers(tm),
    training,
    metrics: metrics ?? {
      loss: last?.loss ?? null,
      acc: last?.acc ?? null,
      val_loss: last?.val_loss ?? null,
      val_acc: last?.val_acc ?? null,
      val_count: last?.val_count ?? null,
      test_acc: null,
      epochs: history.length
    }
  }
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i])

async function newRunDir(home: string, backbone: string): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  const dir = path.join(runsRoot(home), `${stamp}-${backbone}-${Math.random().toString(36).slice(2, 6)}`)
  await fs.mkdir(dir, { recursive: true })
  return dir
}
