// @vitest-environment happy-dom
// The training store as a view of the host's training: a window that connects mid-run rebuilds its
// charts from the snapshot, follows the host's start/end events, and Resume names only the run the
// host followed (never an older one after a Start that failed).
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { EngineEvent, TrainEvent } from '../../src/shared/protocol'
import type { SessionEvent, TrainingSnapshot } from '../../src/shared/session'

const listeners: Array<(event: EngineEvent | SessionEvent) => void> = []
vi.mock('../../src/renderer/src/client', () => ({
  client: {
    host: 'browser',
    request: vi.fn(async () => ({})),
    onEvent: (listener: (event: EngineEvent | SessionEvent) => void) => {
      listeners.push(listener)
      return () => {}
    },
    onReconnect: () => () => {},
    thumbnailUrl: () => ''
  }
}))

const { useTrainingStore } = await import('../../src/renderer/src/stores/training')

beforeEach(() => {
  setActivePinia(createPinia())
  listeners.length = 0
})

const batch = (epoch: number, n: number): TrainEvent => ({ event: 'batch', epoch, batch: n, batches: 2, loss: 1 / n, acc: 0.5, eta: 3 })
const epoch = (n: number): TrainEvent => ({
  event: 'epoch',
  epoch: n,
  epochs: 4,
  loss: 1,
  acc: 0.5,
  val_loss: 0.9,
  val_acc: 0.6,
  lr: 0.001,
  seconds: 1,
  eta: 3,
  best: true
})
const snapshot = (patch: Partial<TrainingSnapshot>): TrainingSnapshot => ({
  serial: 1,
  running: true,
  kind: 'train',
  runDir: '/home/runs/a',
  epochs: 4,
  outcome: null,
  error: null,
  events: [],
  ...patch
})
const host = (training: SessionEvent['training']) => listeners.forEach((l) => l({ event: 'session-training', training }))

describe('training store hydrated from the host', () => {
  it('rebuilds charts and progress from a snapshot taken mid-run, then follows live events', () => {
    const training = useTrainingStore()
    training.hydrate(snapshot({ events: [{ event: 'run', runDir: '/home/runs/a', resumed: false }, batch(1, 1), batch(1, 2), epoch(1), batch(2, 1)] }))
    expect(training.running).toBe(true)
    expect(training.epochs.map((e) => e.epoch)).toEqual([1])
    expect(training.batches.map((b) => b.x)).toEqual([0.5, 1, 1.5])
    // Measured against the run's 4 epochs, not this window's form.
    expect(training.progress).toEqual({ done: 3, total: 8, eta: 3 })
    expect(training.resumable).toBeNull() // running: nothing to resume

    listeners.forEach((l) => l({ event: 'train', requestId: 9, data: epoch(2) }))
    expect(training.epochs.map((e) => e.epoch)).toEqual([1, 2])

    host({
      ...snapshot({
        running: false,
        outcome: { runDir: '/home/runs/a', modelDir: '/m', history: [], path: 'cached-features', stopped: 'stopped', valAcc: 0.6, testAcc: null, seconds: 2 }
      }),
      events: null
    })
    expect(training.running).toBe(false)
    expect(training.outcome?.stopped).toBe('stopped')
    expect(training.epochs).toHaveLength(2) // kept: the end event carries no events
    expect(training.resumable).toBe('/home/runs/a')
  })

  it('a Start that failed before naming a run leaves Resume with nothing (not the older run)', () => {
    const training = useTrainingStore()
    training.hydrate(snapshot({ running: false, runDir: '/home/runs/old', error: 'engine stopped', events: [epoch(1)] }))
    expect(training.resumable).toBe('/home/runs/old')
    // Another window starts a run: the charts start over, then it fails before the engine names a folder.
    host({ ...snapshot({ serial: 2, runDir: null }), events: [] })
    expect(training.running).toBe(true)
    expect(training.epochs).toEqual([])
    host({ ...snapshot({ serial: 2, running: false, runDir: null, error: '/d has one class' }), events: null })
    expect(training.error).toBe('/d has one class')
    expect(training.resumable).toBeNull()
  })
})
