// Progress of the long phases of a run (decoding and feature extraction, batches of an epoch,
// downloads): a bar with counts, rate and time left on a terminal, a plain line every few seconds
// when stderr is a file or a pipe, and the events themselves (with rate and time left added) as
// JSON lines with --json. Without this, a large dataset's extraction was minutes of silence.
import cliProgress from 'cli-progress'
import type { TrainEvent } from '../shared/protocol'

export type ProgressMode = 'tty' | 'plain' | 'json'

/** One counted phase: what is counted, how far it is, and since when. */
interface Phase {
  key: string
  label: string
  unit: string
  total: number
  done: number
  /** The first update's count and time: the rate is measured from there (the first batch warms up). */
  startDone: number
  startTime: number
  lastShown: number
  bar: cliProgress.SingleBar | null
}

/** Seconds between plain progress lines, and between --json progress events of one phase. */
const PLAIN_EVERY_MS = 10_000
const JSON_EVERY_MS = 250

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?'
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}

function formatRate(rate: number, unit: string): string {
  if (!Number.isFinite(rate) || rate <= 0) return `? ${unit}/s`
  if (unit === 'MB') return `${rate.toFixed(1)} MB/s`
  return rate >= 10 ? `${Math.round(rate)} ${unit}/s` : rate >= 1 ? `${rate.toFixed(1)} ${unit}/s` : `${(1 / rate).toFixed(1)} s/${unit.replace(/s$/, '')}`
}

/** What a counted event measures: a stable key per phase, its label and unit, and its counts. */
export function countedProgress(event: TrainEvent): { key: string; label: string; unit: string; done: number; total: number } | null {
  if (event.event === 'batch') {
    return { key: `epoch ${event.epoch}`, label: `epoch ${event.epoch}`, unit: 'batches', done: event.batch, total: event.batches }
  }
  if (event.event === 'status' && event.total !== undefined && event.total > 0 && event.done !== undefined) {
    // Downloads count bytes; shown in MB.
    if (event.message.startsWith('Downloading')) {
      return { key: event.message, label: event.message, unit: 'MB', done: event.done / 1e6, total: event.total / 1e6 }
    }
    const unit = event.phase === 'training' ? 'steps' : 'images'
    return { key: `${event.phase}: ${event.message}`, label: event.message, unit, done: event.done, total: event.total }
  }
  return null
}

export class ProgressReporter {
  private phase: Phase | null = null
  private readonly now: () => number

  constructor(
    private readonly mode: ProgressMode,
    private readonly out: { line: (text: string) => void; progressLine: (text: string) => void; stream: NodeJS.WritableStream },
    now: () => number = Date.now
  ) {
    this.now = now
  }

  /** Shows a counted event's progress; returns the event to print with --json (null: skip this one). */
  update(event: TrainEvent): (TrainEvent & { rate?: number; eta?: number }) | null {
    const counted = countedProgress(event)
    if (!counted) return event
    const now = this.now()
    let phase = this.phase
    if (!phase || phase.key !== counted.key) {
      this.finish()
      // The first plain line waits until a rate can be told; --json shows the first event at once.
      phase = { ...counted, startDone: counted.done, startTime: now, lastShown: this.mode === 'plain' ? now : -Infinity, bar: null }
      this.phase = phase
    }
    phase.done = counted.done
    phase.total = counted.total
    const elapsed = (now - phase.startTime) / 1000
    const rate = elapsed > 0 && phase.done > phase.startDone ? (phase.done - phase.startDone) / elapsed : NaN
    const eta = Number.isFinite(rate) ? (phase.total - phase.done) / rate : NaN
    const complete = phase.done >= phase.total
    if (this.mode === 'json') {
      if (!complete && now - phase.lastShown < JSON_EVERY_MS) return null
      phase.lastShown = now
      if (complete) this.phase = null
      if (!Number.isFinite(rate)) return event
      // A batch event has the engine's own estimate (it knows the epoch's length); the rest get ours.
      return event.event === 'batch' ? { ...event, rate: round(rate) } : { ...event, rate: round(rate), eta: round(eta) }
    }
    if (this.mode === 'tty') {
      const payload = { label: phase.label, unit: phase.unit, rate: formatRate(rate, phase.unit), left: formatDuration(eta), count: counts(phase) }
      if (!phase.bar) {
        phase.bar = new cliProgress.SingleBar(
          {
            stream: this.out.stream,
            format: '{label} {bar} {percentage}% | {count} | {rate} | {left} left',
            barsize: 24,
            hideCursor: true,
            clearOnComplete: true,
            // The engine reports often; redraw at most ten times a second.
            fps: 10,
            // Keep drawing when the terminal check is fooled (e.g. a wrapper's pipe): mode says it is a terminal.
            noTTYOutput: true
          },
          cliProgress.Presets.shades_classic
        )
        phase.bar.start(phase.total, phase.done, payload)
      } else {
        phase.bar.setTotal(phase.total)
        phase.bar.update(phase.done, payload)
      }
    } else if (complete || now - phase.lastShown >= PLAIN_EVERY_MS) {
      phase.lastShown = now
      if (!complete)
        this.out.progressLine(
          `${phase.label}: ${counts(phase)} (${Math.floor((100 * phase.done) / phase.total)} %), ${formatRate(rate, phase.unit)}, about ${formatDuration(eta)} left`
        )
    }
    if (complete) this.finish()
    return null
  }

  /** Ends the phase shown: its bar is cleared and one line says what it did (epochs have their own line). */
  finish(): void {
    const phase = this.phase
    if (!phase) return
    this.phase = null
    phase.bar?.stop()
    if (phase.done >= phase.total && !phase.key.startsWith('epoch ')) {
      const seconds = (this.now() - phase.startTime) / 1000
      this.out.progressLine(`${phase.label}: ${counts(phase)} in ${formatDuration(seconds)}`)
    }
  }

  /** Prints a line of the run's output, clearing a bar first so the two do not mix. */
  line(text: string): void {
    if (this.phase?.bar) {
      // Cleared now, drawn again (below the line) by the phase's next update.
      this.phase.bar.stop()
      this.phase.bar = null
    }
    this.out.line(text)
  }
}

function counts(phase: Phase): string {
  if (phase.unit === 'MB') return `${phase.done.toFixed(1)}/${phase.total.toFixed(1)} MB`
  return `${Math.round(phase.done)}/${Math.round(phase.total)} ${phase.unit}`
}

const round = (value: number): number => Math.round(value * 1000) / 1000
