// What a run ends with: the weights to keep (the best epoch's when the best is restored), the
// final scores, the saved model and its metadata naming that epoch, the evaluation report, the
// outcome and the `done` event. Also the end of a run stopped before it trained anything.
import fs from 'node:fs/promises'
import type { EpochMetrics, ModelMetadata, TrainConfig, TrainEvent } from '../../shared/protocol'
import type { TrainOutcome } from '../../shared/results'
import type { TransferModel } from '../model/build'
import type { Partition } from './partition'
import { frozenLayers } from '../model/freeze'
import { pruneSharedWeights, sharedWeightsDir } from '../model/shared-weights'
import { saveModel } from '../model/store'
import { APP_VERSION } from '../version'
import type { BestCheckpoint } from './callbacks'
import type { TrainingData } from './data'
import { evaluationReport, score, scoreCurrent } from './evaluate'
import { addFeatureStats } from './feature-stats'
import type { FitState } from './fit'
import { runLayout } from './run-layout'
import type { PreparedSources } from './session'

/** What a run ends with (the protocol's TrainOutcome), and the live model when asked for. */
export interface TrainResult extends TrainOutcome {
  /** The trained model, when TrainOptions.keepModel asked for it. */
  model?: TransferModel
}

export interface RunEnd {
  runDir: string
  /** The studio home, whose shared-weights folder the model's frozen weights link to. */
  home: string
  modelDir: string
  config: TrainConfig
  tm: TransferModel
  /** The model's frozen prefix and trainable suffix as the run ends (for the training photos' feature statistics). */
  part: Partition
  data: TrainingData
  history: EpochMetrics[]
  best: BestCheckpoint
  state: FitState
  /** The batch sources; null when a Stop came while phase 2 computed its features. */
  made: PreparedSources | null
  cached: boolean
  seconds: () => number
  emit: (event: TrainEvent) => void
  keepModel?: boolean
}

/** Saves the model of a run that trained at least one epoch. */
export async function finishRun({
  runDir,
  modelDir,
  home,
  config,
  tm,
  part,
  data,
  history,
  best,
  state,
  made,
  cached,
  seconds,
  emit,
  keepModel
}: RunEnd): Promise<TrainResult> {
  const classCount = data.classes.length
  // A stopped run keeps its best model; early stopping does when asked to (restore_best_weights).
  const restore = (state.stop === 'stopped' || (config.earlyStopping?.restoreBest ?? false)) && best.weights !== null
  const savedEpoch = restore ? best.epoch! : history.at(-1)!.epoch
  if (restore) {
    state.suffix.setWeights(best.weights!)
    // The native step scores below with its own copy of the weights.
    state.step.reload?.()
    state.changedSinceScore = true
  }
  // Without sources (stopped while phase 2 computed its features) the saved epoch's own scores stand.
  const val = made?.sources.val ?? null
  const finalVal =
    val && (state.changedSinceScore || !state.lastVal)
      ? await scoreCurrent(state.step, state.suffix, val, config.batchSize, classCount)
      : made
        ? state.lastVal
        : null
  const test = made?.sources.test ? await score(state.suffix, made.sources.test, config.batchSize, classCount) : null
  emit({ event: 'status', phase: 'saving', message: `Saving the model to ${modelDir} (epoch ${savedEpoch}'s weights)` })
  const saved = history.find((m) => m.epoch === savedEpoch)!
  const metrics = {
    loss: saved.loss,
    acc: saved.acc,
    val_loss: finalVal ? finalVal.loss : saved.val_loss,
    val_acc: finalVal ? finalVal.accuracy : saved.val_acc,
    val_count: finalVal ? finalVal.labels.length : (saved.val_count ?? null),
    test_acc: test?.accuracy ?? null,
    epochs: history.length
  }
  // The frozen layers' weights are one file in the home that every model and checkpoint links to.
  const sharing = { sharedWeights: sharedWeightsDir(home) }
  await saveModel(tm.model, metadataFor(tm, config, history, metrics, savedEpoch), modelDir, sharing)
  // Shared files that deleted runs no longer link to.
  await pruneSharedWeights(sharing.sharedWeights)
  // What "unlike the training photos" is measured against when the model classifies (src/shared/unsure.ts).
  if (made) await addFeatureStats(modelDir, part, made.sources.train, classCount, state.step)
  if (finalVal) {
    const report = evaluationReport(finalVal, data.classes, data.skipped)
    await fs.writeFile(runLayout(runDir).evaluation, JSON.stringify(report, null, 2))
  }
  const result: TrainResult = {
    runDir,
    modelDir,
    history,
    path: cached ? 'cached-features' : 'end-to-end',
    stopped: state.stop ?? 'completed',
    valAcc: metrics.val_acc,
    testAcc: test?.accuracy ?? null,
    seconds: seconds(),
    savedEpoch,
    bestEpoch: best.epoch,
    model: keepModel ? tm : undefined
  }
  emit({
    event: 'done',
    val_acc: result.valAcc,
    val_count: metrics.val_count,
    test_acc: result.testAcc,
    seconds: result.seconds,
    model: modelDir,
    epochs: history.length,
    stopped: result.stopped,
    savedEpoch,
    bestEpoch: best.epoch
  })
  return result
}

/** The end of a run stopped before it trained an epoch: no model is saved, and the run can be resumed. */
export function stoppedBeforeTraining(
  run: { runDir: string; modelDir: string; history: EpochMetrics[]; bestEpoch: number | null; seconds: number; cached: boolean },
  emit: (event: TrainEvent) => void
): TrainResult {
  const { runDir, modelDir, history, bestEpoch, seconds, cached } = run
  const done = history.length
  emit({
    event: 'notice',
    message:
      done === 0
        ? `Stopped before the first epoch: nothing was trained and no model was saved. Resume ${runDir} to start again from epoch 1`
        : `Stopped before epoch ${done + 1}: nothing more was trained and no model was saved. Resume ${runDir} to continue after epoch ${done}`
  })
  emit({
    event: 'done',
    val_acc: null,
    val_count: null,
    test_acc: null,
    seconds,
    model: modelDir,
    epochs: done,
    stopped: 'stopped',
    savedEpoch: null,
    bestEpoch
  })
  return {
    runDir,
    modelDir,
    history,
    path: cached ? 'cached-features' : 'end-to-end',
    stopped: 'stopped',
    valAcc: null,
    testAcc: null,
    seconds,
    savedEpoch: null,
    bestEpoch
  }
}

/** The saved model's metadata; `metrics` null for a checkpoint (the epoch's own numbers). */
export function metadataFor(
  tm: TransferModel,
  config: TrainConfig,
  history: EpochMetrics[],
  metrics: ModelMetadata['metrics'] | null,
  savedEpoch: number | undefined
) {
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
    savedEpoch,
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
