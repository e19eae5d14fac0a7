// Ctrl-C during a run: the first asks the run to stop like the app's Stop button (the best model and
// the run's state are saved), a second one quits at once. `npm run studio` runs the CLI as
// `node --import tsx`, not through tsx's own launcher: that launcher relays a SIGINT to its child and
// kills it (SIGKILL) when the child does not answer within 60 ms, which a batch that keeps the event
// loop busy for seconds never does.

export interface Interrupt {
  /** Whether a Ctrl-C asked the run to stop. */
  readonly requested: boolean
  /** Stops listening (the run is over). */
  dispose(): void
}

export function stopOnInterrupt(options: { stop: () => void; warn: (line: string) => void; quit?: () => void }): Interrupt {
  let requested = false
  const onSignal = (): void => {
    if (!requested) {
      requested = true
      options.warn("Stopping after this batch: the best model so far and the run's state will be saved (Ctrl-C again to quit without saving)")
      options.stop()
      return
    }
    options.warn('Quitting without saving the model (the state of the last completed epoch is in the run folder)')
    ;(options.quit ?? (() => process.exit(130)))()
  }
  process.on('SIGINT', onSignal)
  return {
    get requested() {
      return requested
    },
    dispose: () => void process.off('SIGINT', onSignal)
  }
}
