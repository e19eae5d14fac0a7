// The callbacks that make a fit a run of the studio: the resumable state written after every
// epoch, and the progress events the host shows.
import * as tf from '@tensorflow/tfjs'
import type { EpochMetrics, TrainConfig, TrainEvent } from '../../shared/protocol'
import type { BestCheckpoint, EarlyStopping, ReduceLrOnPlateau } from './callbacks'
import type { BatchLogs, Callback, FitState } from './fit'
import { saveRunState, type RunState } from './run-state'

const BATCH_EVENT_INTERVAL_MS = 250

/** Writes what the run needs to continue (weights, optimizer, trackers, history) after every epoch. */
export class RunStateSaver implements Callback {
  constructor(
    private readonly runDir: string,
    private readonly run: {
      config: TrainConfig
      classes: string[]
      best: BestCheckpoint
      early: EarlyStopping | null
      plateau: ReduceLrOnPlateau | null
      /** Seconds of training so far, this session's included. */
      seconds: () => number
    }
  ) {}

  async onEpochEnd(metrics: EpochMetrics, state: FitState): Promise<void> {
    const { config, classes, best, early, plateau } = this.run
    const record: RunState = {
      config,
      epochsDone: metrics.epoch,
      history: state.history,
      lr: state.lr,
      bestEpoch: best.epoch,
      trackers: { best: best.tracker.state(), early: early?.tracker.state() ?? null, plateau: plateau?.tracker.state() ?? null },
      seconds: this.run.seconds(),
      ...(state.phase ? { phase: state.phase } : {}),
      classes
    }
    const moments = await state.step.optimizerWeights()
    try {
      await saveRunState(this.runDir, record, state.suffix.getWeights(), best.weights, moments)
    } finally {
      tf.dispose(moments.map((m) => m.tensor))
    }
  }
}

/** Batch (at most every 250 ms) and epoch events, with the time left for the whole run. */
export class ProgressEvents implements Callback {
  private lastEvent = 0
  private readonly epochSeconds: number[] = []

  constructor(
    private readonly emit: (event: TrainEvent) => void,
    private readonly epochs: number,
    private readonly best: BestCheckpoint
  ) {}

  onTrainBegin(state: FitState): void {
    this.training(state)
  }

  onPhaseBegin(state: FitState): void {
    this.training(state)
  }

  /** Epochs start (or phase 2 does): the step after loading and extraction, with the epochs done so far. */
  private training(state: FitState): void {
    const done = state.history.length
    const phase = state.phase ? `, phase ${state.phase}` : ''
    this.emit({ event: 'status', phase: 'training', message: `Training${phase}: epochs done`, done, total: this.epochs })
  }

  onEpochBegin(): void {
    this.lastEvent = 0
  }

  onBatchEnd(logs: BatchLogs): void {
    const now = performance.now()
    if (now - this.lastEvent < BATCH_EVENT_INTERVAL_MS && logs.batch !== logs.batches) return
    this.lastEvent = now
    const perBatch = (now - logs.epochStart) / 1000 / logs.batch
    this.emit({
      event: 'batch',
      epoch: logs.epoch,
      batch: logs.batch,
      batches: logs.batches,
      loss: logs.loss,
      acc: logs.acc,
      eta: perBatch * (logs.batches - logs.batch) + perBatch * logs.batches * (this.epochs - logs.epoch)
    })
  }

  onEpochEnd(metrics: EpochMetrics): void {
    this.epochSeconds.push(metrics.seconds)
    const meanEpoch = this.epochSeconds.reduce((a, s) => a + s, 0) / this.epochSeconds.length
    this.emit({ event: 'epoch', ...metrics, epochs: this.epochs, eta: meanEpoch * (this.epochs - metrics.epoch), best: this.best.improved })
  }
}
