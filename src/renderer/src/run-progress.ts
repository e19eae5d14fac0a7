// Progress of a run as one bar and one time left, whatever phase it is in: downloading the
// backbone, computing frozen-layer features, the epochs, saving. The time left is measured here
// from the phase's own pace since it began (not one batch's), so it does not jump at every epoch
// boundary, and it is left out until there is a pace to go by.
import type { TrainEvent } from '../../shared/protocol'

export type Phase = 'loading' | 'extracting' | 'training' | 'saving'

export interface ProgressView {
  phase: Phase | null
  /** What is happening, in words ("Computing train features: 120 of 400"). */
  label: string
  /** Share of the current phase done, 0..1; null when there is no count to go by. */
  fraction: number | null
  /** Seconds left in the phase, or null while unknown. */
  eta: number | null
  /** What the time left covers. */
  etaCovers: 'run' | 'step' | null
}

/** A phase's pace is trusted after this long, so one fast first batch does not promise too much. */
const SETTLE_MS = 1500

interface Pace {
  key: string
  startTime: number
  startDone: number
}

type StatusEvent = Extract<TrainEvent, { event: 'status' }>
type BatchEvent = Extract<TrainEvent, { event: 'batch' }>

export const IDLE: ProgressView = { phase: null, label: '', fraction: null, eta: null, etaCovers: null }

export class RunProgress {
  private pace: Pace | null = null
  private ownEpochs: number | null = null
  view: ProgressView = IDLE

  constructor(
    /** Epochs the run was asked for (the training phase's length) until the run says otherwise. */
    private readonly askedEpochs: () => number,
    private readonly now: () => number = () => performance.now()
  ) {}

  /** The run's own count of epochs, once it says (a resumed run keeps its own). */
  setEpochs(epochs: number): void {
    this.ownEpochs = epochs
  }

  private get epochs(): number {
    return this.ownEpochs ?? this.askedEpochs()
  }

  /** Measures `done` of `total` against the pace since the phase (named by `key`) began. */
  private timeLeft(key: string, done: number, total: number): number | null {
    const now = this.now()
    if (!this.pace || this.pace.key !== key || done < this.pace.startDone) {
      this.pace = { key, startTime: now, startDone: done }
      return null
    }
    const elapsed = now - this.pace.startTime
    const progressed = done - this.pace.startDone
    if (progressed <= 0 || elapsed < SETTLE_MS) return null
    return ((total - done) * elapsed) / progressed / 1000
  }

  status(event: StatusEvent): ProgressView {
    const counted = event.total !== undefined && event.total > 0 && event.done !== undefined
    const label = counted ? `${event.message}: ${event.done!.toLocaleString('en')} of ${event.total!.toLocaleString('en')}` : event.message
    const fraction = counted ? Math.min(1, event.done! / event.total!) : null
    const eta = counted ? this.timeLeft(`${event.phase}:${event.message}`, event.done!, event.total!) : null
    this.view = { phase: event.phase, label, fraction, eta, etaCovers: eta === null ? null : 'step' }
    return this.view
  }

  batch(event: BatchEvent): ProgressView {
    const total = this.epochs * event.batches
    const done = (event.epoch - 1) * event.batches + event.batch
    const eta = this.timeLeft('training', done, total)
    this.view = {
      phase: 'training',
      label: `Epoch ${event.epoch} of ${this.epochs}, batch ${event.batch} of ${event.batches}`,
      fraction: Math.min(1, done / total),
      eta,
      etaCovers: eta === null ? null : 'run'
    }
    return this.view
  }

  /** The run's end: a full bar. */
  finish(label: string): ProgressView {
    this.pace = null
    this.view = { phase: null, label, fraction: 1, eta: null, etaCovers: null }
    return this.view
  }
}

/** Seconds in words: "45 s", "3 min 5 s", "2 h 10 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}
