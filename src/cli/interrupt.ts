// Ctrl-C during a run: the first asks the run to stop like the app's Stop button (the best model and
// the run's state are saved), a second one quits at once. A Ctrl-C reaches the whole process group:
// `npm run studio` forwards the SIGINT it got to its child as well, so the same key press can
// arrive twice in a row; signals that close together count as one.

/** Signals this close to the first are the same key press, relayed. */
const SAME_PRESS_MS = 1000

export interface Interrupt {
  /** Whether a Ctrl-C asked the run to stop. */
  readonly requested: boolean
  /** Stops listening (the run is over). */
  dispose(): void
}

export function stopOnInterrupt(options: { stop: () => void; warn: (line: string) => void; now?: () => number }): Interrupt {
  const now = options.now ?? Date.now
  let first: number | null = null
  const onSignal = (): void => {
    const at = now()
    if (first === null) {
      first = at
      options.warn('Stopping after this batch: the best model so far and the run\'s state will be saved (Ctrl-C again to quit without saving)')
      options.stop()
      return
    }
    if (at - first < SAME_PRESS_MS) return
    options.warn('Quitting without saving the model (the state of the last completed epoch is in the run folder)')
    process.exit(130)
  }
  process.on('SIGINT', onSignal)
  return {
    get requested() {
      return first !== null
    },
    dispose: () => void process.off('SIGINT', onSignal)
  }
}
