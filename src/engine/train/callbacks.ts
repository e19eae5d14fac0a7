// Keras' EarlyStopping, ReduceLROnPlateau and "best so far" tracking (ModelCheckpoint with
// save_best_only), with Keras' semantics: min_delta 0, cooldown 0, `wait` reset on improvement.
import type { EpochMetrics } from '../../shared/protocol'

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
