// Keras' EarlyStopping, ReduceLROnPlateau and "best so far" tracking (ModelCheckpoint with
// save_best_only), with Keras' semantics: min_delta 0, cooldown 0, `wait` reset on improvement;
// as trackers (pure counting) and as callbacks of the fit loop.
import * as tf from '@tensorflow/tfjs'
import type { EpochMetrics } from '../../shared/protocol'
import type { Callback, FitState } from './fit'

export type Watched = 'loss' | 'acc' | 'val_loss' | 'val_acc'

export interface TrackerState {
  best: number | null
  wait: number
}

export class Tracker {
  best: number | null = null
  wait = 0
  constructor(readonly watched: Watched) {}

  /** Records an epoch; true when it improved on every earlier one. */
  update(metrics: EpochMetrics): boolean {
    const value = metrics[this.watched]
    if (value === null) return false
    const better = this.best === null || (this.watched.endsWith('loss') ? value < this.best : value > this.best)
    if (better) {
      this.best = value
      this.wait = 0
    } else {
      this.wait++
    }
    return better
  }

  state(): TrackerState {
    return { best: this.best, wait: this.wait }
  }

  restore(state: TrackerState): void {
    this.best = state.best
    this.wait = state.wait
  }
}

/** What to watch: the validation metric when there is validation data, else the training one. */
export function watched(monitor: 'val_loss' | 'val_acc', hasValidation: boolean): Watched {
  return hasValidation ? monitor : monitor === 'val_loss' ? 'loss' : 'acc'
}

/** Stop when `patience` epochs in a row did not improve. */
export function shouldStop(tracker: Tracker, patience: number): boolean {
  return tracker.wait > 0 && tracker.wait >= patience
}

/** The learning rate after an epoch: cut by `factor` once `patience` epochs did not improve. */
export function plateauRate(tracker: Tracker, lr: number, options: { factor: number; patience: number; minLr: number }): number {
  if (tracker.wait === 0 || tracker.wait < options.patience) return lr
  tracker.wait = 0
  return Math.max(lr * options.factor, options.minLr)
}

/**
 * Keeps the best epoch's weights of the part that trains, in memory (to restore them at the end)
 * and through `save` (the checkpoint model on disk).
 */
export class BestCheckpoint implements Callback {
  readonly tracker: Tracker
  /** The best epoch's weights, in the order of the training suffix's getWeights(). */
  weights: tf.Tensor[] | null
  epoch: number | null
  /** Whether the epoch that just ended was the best so far. */
  improved = false

  constructor(
    watched: Watched,
    private readonly save: (state: FitState) => Promise<void>,
    restored: { weights: tf.Tensor[] | null; epoch: number | null; tracker: TrackerState } | null = null
  ) {
    this.tracker = new Tracker(watched)
    this.weights = restored?.weights ?? null
    this.epoch = restored?.epoch ?? null
    if (restored) this.tracker.restore(restored.tracker)
  }

  async onEpochEnd(metrics: EpochMetrics, state: FitState): Promise<void> {
    this.improved = this.tracker.update(metrics)
    if (!this.improved) return
    tf.dispose(this.weights ?? [])
    this.weights = state.suffix.getWeights().map((w) => tf.keep(w.clone()))
    this.epoch = metrics.epoch
    await this.save(state)
  }

  /**
   * The part that trains grew (phase 2 of a two-phase run): the best weights become the wider
   * part's, the newly trainable layers at their values then (they did not change before).
   */
  widen(from: tf.LayersModel, to: tf.LayersModel): void {
    if (!this.weights) return
    const current = from.getWeights().map((w) => w.clone())
    from.setWeights(this.weights)
    const wider = to.getWeights().map((w) => tf.keep(w.clone()))
    from.setWeights(current)
    tf.dispose([...current, ...this.weights])
    this.weights = wider
  }

  dispose(): void {
    tf.dispose(this.weights ?? [])
    this.weights = null
  }
}

/** Ends the run once `patience` epochs did not improve; says so when the run ends (as Keras does). */
export class EarlyStopping implements Callback {
  readonly tracker: Tracker
  private stoppedAfter: number | null = null

  constructor(
    watched: Watched,
    private readonly patience: number,
    private readonly notify: (message: string) => void,
    restored: TrackerState | null = null
  ) {
    this.tracker = new Tracker(watched)
    if (restored) this.tracker.restore(restored)
  }

  onEpochEnd(metrics: EpochMetrics, state: FitState): void {
    // A two-phase run's head phase has a fixed length (Keras's guide fits it on its own): the
    // count starts with phase 2.
    if (state.phase === 1) return
    this.tracker.update(metrics)
    if (shouldStop(this.tracker, this.patience) && state.stop === null) {
      state.stop = 'early-stopping'
      this.stoppedAfter = metrics.epoch
    }
  }

  onTrainEnd(): void {
    if (this.stoppedAfter !== null) {
      this.notify(`Early stopping after epoch ${this.stoppedAfter}: ${this.tracker.watched} has not improved for ${this.patience} epochs`)
    }
  }
}

/** Cuts the learning rate by `factor` after `patience` flat epochs; phase 2 starts afresh. */
export class ReduceLrOnPlateau implements Callback {
  readonly tracker: Tracker

  constructor(
    watched: Watched,
    private readonly options: { factor: number; patience: number; minLr: number },
    private readonly notify: (message: string) => void,
    restored: TrackerState | null = null
  ) {
    this.tracker = new Tracker(watched)
    if (restored) this.tracker.restore(restored)
  }

  onEpochEnd(metrics: EpochMetrics, state: FitState): void {
    this.tracker.update(metrics)
    const next = plateauRate(this.tracker, state.lr, this.options)
    if (next === state.lr) return
    state.lr = next
    state.step.setLearningRate(next)
    this.notify(`Epoch ${metrics.epoch}: learning rate reduced to ${next}`)
  }

  onPhaseBegin(): void {
    this.tracker.restore({ best: null, wait: 0 })
  }
}
