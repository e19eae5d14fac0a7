// The epoch loop, as tfjs-layers' fitLoop: batches through a TrainingStep, a validation score
// after each epoch, and a callback list that does everything else (best checkpoint, run state,
// early stopping, learning rate on plateau, events). Nothing here knows what the callbacks do.
import type * as tf from '@tensorflow/tfjs'
import type { EpochMetrics } from '../../shared/protocol'
import { seededRandom, shuffled } from '../util/random'
import { scoreCurrent, type Scored } from './evaluate'
import type { BatchSource } from './sources'
import type { StepBatch, TrainingStep } from './step'

export type StopReason = 'stopped' | 'early-stopping'

/** What the loop and its callbacks share while a run trains. */
export interface FitState {
  step: TrainingStep
  /** The model part that trains (scored, checkpointed, saved in the run state). */
  suffix: tf.LayersModel
  lr: number
  history: EpochMetrics[]
  /** Set to end the run after the current epoch (Keras's model.stopTraining). */
  stop: StopReason | null
  /** The phase of a two-phase run; undefined in a one-phase run. */
  phase?: 1 | 2
  /** The last validation score, and whether the weights changed after it (scoring is a full pass on the end-to-end path). */
  lastVal: Scored | null
  changedSinceScore: boolean
}

export interface BatchLogs {
  epoch: number
  batch: number
  batches: number
  /** Means over the epoch so far. */
  loss: number
  acc: number
  /** performance.now() when the epoch began. */
  epochStart: number
}

/** Keras's callback hooks; each is awaited in list order. */
export interface Callback {
  onTrainBegin?(state: FitState): void | Promise<void>
  onEpochBegin?(epoch: number, state: FitState): void
  onBatchEnd?(logs: BatchLogs, state: FitState): void
  onEpochEnd?(metrics: EpochMetrics, state: FitState): void | Promise<void>
  /** A two-phase run moved to phase 2 (new step, suffix and learning rate already in `state`). */
  onPhaseBegin?(state: FitState): void | Promise<void>
  onTrainEnd?(state: FitState): void | Promise<void>
}

export class CallbackList {
  constructor(private readonly callbacks: ReadonlyArray<Callback | null>) {}

  private get all(): Callback[] {
    return this.callbacks.filter((c): c is Callback => c !== null)
  }

  async trainBegin(state: FitState): Promise<void> {
    for (const c of this.all) await c.onTrainBegin?.(state)
  }
  epochBegin(epoch: number, state: FitState): void {
    for (const c of this.all) c.onEpochBegin?.(epoch, state)
  }
  batchEnd(logs: BatchLogs, state: FitState): void {
    for (const c of this.all) c.onBatchEnd?.(logs, state)
  }
  async epochEnd(metrics: EpochMetrics, state: FitState): Promise<void> {
    for (const c of this.all) await c.onEpochEnd?.(metrics, state)
  }
  async phaseBegin(state: FitState): Promise<void> {
    for (const c of this.all) await c.onPhaseBegin?.(state)
  }
  async trainEnd(state: FitState): Promise<void> {
    for (const c of this.all) await c.onTrainEnd?.(state)
  }
}

export interface FitPlan {
  firstEpoch: number
  lastEpoch: number
  batchSize: number
  seed: number
  classCount: number
  train: BatchSource
  val: BatchSource | null
  signal?: AbortSignal
  /** Reseeds the augmentation's draws for an epoch (the sources hold the generator). */
  reseedAugment?: (epoch: number) => void
}

/** Trains epochs firstEpoch..lastEpoch unless a callback or the signal stops the run first. */
export async function fit(state: FitState, plan: FitPlan, callbacks: CallbackList): Promise<void> {
  const dropouts = state.suffix.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as Array<{ seed?: number }>
  try {
    for (let epoch = plan.firstEpoch; epoch <= plan.lastEpoch && state.stop === null; epoch++) {
      const epochStart = performance.now()
      // Every epoch draws from its own seeded streams, so a resumed run repeats an unbroken one.
      const order = shuffled(
        Array.from({ length: plan.train.size }, (_, i) => i),
        seededRandom(plan.seed * 7919 + epoch)
      )
      const dropoutRandom = seededRandom(plan.seed * 104729 + epoch)
      plan.reseedAugment?.(epoch)
      callbacks.epochBegin(epoch, state)
      const batches = Math.ceil(order.length / plan.batchSize)
      let lossSum = 0
      let correct = 0
      let seen = 0
      for (let b = 0; b < batches; ) {
        if (plan.signal?.aborted) {
          state.stop = 'stopped'
          break
        }
        // The native step takes several batches a run (step.ts runMany); tfjs's one at a time.
        const end = Math.min(batches, b + (state.step.runMany ? (state.step.batchesPerRun ?? 1) : 1))
        const group: (StepBatch & { index: number })[] = []
        let results: { loss: number; right: number }[] = []
        try {
          for (; b < end; b++) {
            const batch = await plan.train.batch(order.slice(b * plan.batchSize, (b + 1) * plan.batchSize), true, state.step.takesPixels)
            if (batch.labels.length === 0) {
              batch.x.dispose()
              continue
            }
            group.push({ x: batch.x, labels: batch.labels, index: b })
          }
          if (group.length === 0) continue
          // Every batch draws its seeds, so the stream does not depend on how batches are grouped
          // (only tfjs's Dropout reads them, and the tfjs step takes one batch at a time).
          for (const _ of group) for (const dropout of dropouts) dropout.seed = Math.floor(dropoutRandom() * 2 ** 31)
          results = state.step.runMany ? await state.step.runMany(group) : [await state.step.run(group[0].x, group[0].labels)]
        } finally {
          for (const batch of group) batch.x.dispose()
        }
        state.changedSinceScore = true
        // As many batch buffers as a run will hold, before the next epoch first needs them.
        if (state.step.runMany) plan.train.reserve?.(Math.min(state.step.batchesPerRun ?? 1, batches), plan.batchSize)
        results.forEach(({ loss, right }, i) => {
          const count = group[i].labels.length
          lossSum += loss * count
          correct += right
          seen += count
          callbacks.batchEnd({ epoch, batch: group[i].index + 1, batches, loss: lossSum / seen, acc: correct / seen, epochStart }, state)
        })
      }
      if (seen === 0) break // stopped before this epoch did anything
      state.step.sync()

      const val = plan.val ? await scoreCurrent(state.step, state.suffix, plan.val, plan.batchSize, plan.classCount) : null
      state.lastVal = val
      state.changedSinceScore = false
      const metrics: EpochMetrics = {
        epoch,
        loss: lossSum / seen,
        acc: correct / seen,
        val_loss: val?.loss ?? null,
        val_acc: val?.accuracy ?? null,
        val_count: val?.labels.length ?? null,
        lr: state.lr,
        seconds: (performance.now() - epochStart) / 1000,
        ...(state.phase ? { phase: state.phase } : {})
      }
      state.history.push(metrics)
      await callbacks.epochEnd(metrics, state)
    }
  } finally {
    for (const dropout of dropouts) dropout.seed = undefined
  }
  state.step.sync()
}
