// The host's session without an engine: a stand-in engine answers as the real one does (events
// with the request's id, then the result), so what a reloaded or second window receives can be
// checked event by event.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { appendEvent, MAX_BATCH_EVENTS, SessionState, SETTINGS_FILE } from '../../src/host/session-state'
import type { DatasetReport, EngineCommandInput, EngineEvent, TrainEvent } from '../../src/shared/protocol'
import { type ModelChoices, SessionEvent, SessionSnapshot } from '../../src/shared/session'
import type { TrainOutcome } from '../../src/shared/results'
import { tempDir } from '../helpers'

const REPORT: DatasetReport = {
  root: '/data/weather',
  layout: 'classes',
  classes: ['cloudy', 'rain'],
  splits: [{ name: 'train', source: '/data/weather', counts: { cloudy: 3, rain: 3 }, total: 6 }],
  missing: [],
  skipped: [],
  notes: [],
  duplicates: [],
  validation: { kind: 'split', fraction: 0.2, seed: 42 },
  total: 6
}

const CHOICES: ModelChoices = {
  backbone: 'mobilenet_v1_0.25_224',
  head: { pooling: 'avg', dropout: 0.2, dense: [{ units: 64, activation: 'relu', batchNorm: true, dropout: 0.5 }], init: 'zeros' },
  frozen: ['conv1', 'conv1_bn'],
  train: {
    epochs: 7,
    batchSize: 16,
    learningRate: 0.0005,
    optimizer: 'rmsprop',
    augment: { flipHorizontal: true, flipVertical: false, rotate: 10, zoom: 0.1, shear: 0, brightness: 0.2 },
    earlyStopping: 3,
    reduceLr: null,
    cacheFeatures: true,
    seed: 7
  }
}

const outcome = (runDir: string, stopped: TrainOutcome['stopped'] = 'completed'): TrainOutcome => ({
  runDir,
  modelDir: path.join(runDir, 'model'),
  history: [],
  path: 'cached-features',
  stopped,
  valAcc: 0.5,
  testAcc: null,
  seconds: 1
})

const batch = (epoch: number, n: number): TrainEvent => ({ event: 'batch', epoch, batch: n, batches: 2, loss: 1 / n, acc: 0.5, eta: 1 })
const epoch = (n: number): TrainEvent => ({
  event: 'epoch',
  epoch: n,
  epochs: 3,
  loss: 1,
  acc: 0.5,
  val_loss: 1,
  val_acc: 0.5,
  lr: 0.001,
  seconds: 1,
  eta: 1,
  best: true
})

/** A host with a stand-in engine whose answers the test gives, and everything broadcast recorded. */
function host(home = tempDir()) {
  const broadcast: SessionEvent[] = []
  const state = new SessionState(home, (event) => broadcast.push(SessionEvent.parse(event)))
  let answer: { resolve: (value: unknown) => void; reject: (error: Error) => void } | null = null
  const engine = (command: EngineCommandInput): Promise<unknown> => {
    if (command.command === 'scan') return Promise.resolve(REPORT)
    return new Promise((resolve, reject) => (answer = { resolve, reject }))
  }
  const emit = (data: TrainEvent): void => state.observe({ event: 'train', requestId: 1, data } as EngineEvent)
  const snapshot = async () => SessionSnapshot.parse(await state.handle({ command: 'session' }, engine))
  return {
    state,
    engine,
    emit,
    snapshot,
    broadcast,
    home,
    finish: (value: unknown) => answer!.resolve(value),
    fail: (message: string) => answer!.reject(new Error(message))
  }
}

describe('host session: a training', () => {
  it('is followed whole: a window connecting mid-run gets every event so far, and the end', async () => {
    const h = host()
    const running = h.state.handle({ command: 'train', config: { data: '/data/weather', backbone: 'mobilenet_v1_0.25_224', epochs: 3 } }, h.engine)
    expect(h.broadcast.at(-1)!.training).toMatchObject({ serial: 1, running: true, kind: 'train', runDir: null, epochs: 3, events: [] })
    h.emit({ event: 'run', runDir: '/home/runs/a', resumed: false })
    expect(h.broadcast.at(-1)!.training).toMatchObject({ running: true, runDir: '/home/runs/a', events: null })
    h.emit(batch(1, 1))
    h.emit(batch(1, 2))
    h.emit(epoch(1))

    // A reload now: the snapshot has the run, running, with its events in order.
    const mid = await h.snapshot()
    expect(mid.training).toMatchObject({ running: true, runDir: '/home/runs/a', epochs: 3, outcome: null, error: null })
    expect(mid.training.events.map((e) => e.event)).toEqual(['run', 'batch', 'batch', 'epoch'])

    h.emit(batch(2, 1))
    h.finish(outcome('/home/runs/a', 'stopped'))
    await running
    const end = await h.snapshot()
    expect(end.training).toMatchObject({ running: false, runDir: '/home/runs/a', outcome: { stopped: 'stopped' } })
    expect(end.training.events).toHaveLength(5)
    expect(h.broadcast.at(-1)!.training).toMatchObject({ running: false, outcome: { stopped: 'stopped' } })
  })

  it('a Start that fails before the engine names a run leaves no run to resume (not an older one)', async () => {
    const h = host()
    const first = h.state.handle({ command: 'train', config: { data: '/d', backbone: 'b' } }, h.engine)
    h.emit({ event: 'run', runDir: '/home/runs/old', resumed: false })
    h.fail('The engine process stopped unexpectedly')
    await expect(first).rejects.toThrow('stopped unexpectedly')
    expect((await h.snapshot()).training).toMatchObject({ runDir: '/home/runs/old', error: 'The engine process stopped unexpectedly' })

    const second = h.state.handle({ command: 'train', config: { data: '/d', backbone: 'b' } }, h.engine)
    h.fail('/d has only one class')
    await expect(second).rejects.toThrow('one class')
    const after = await h.snapshot()
    expect(after.training).toMatchObject({ serial: 2, running: false, runDir: null, error: '/d has only one class', events: [] })
  })

  it('resuming the run on screen keeps its epochs; resuming another starts the charts over', async () => {
    const h = host()
    const first = h.state.handle({ command: 'train', config: { data: '/d', backbone: 'b' } }, h.engine)
    h.emit({ event: 'run', runDir: '/home/runs/a', resumed: false })
    h.emit(batch(1, 1))
    h.emit(epoch(1))
    h.emit({ event: 'done', val_acc: 0.5, test_acc: null, seconds: 1, model: '/m', epochs: 1, stopped: 'stopped' })
    h.finish(outcome('/home/runs/a', 'stopped'))
    await first

    const again = h.state.handle({ command: 'resumeTraining', runDir: '/home/runs/a' }, h.engine)
    const started = h.broadcast.at(-1)!.training
    expect(started).toMatchObject({ kind: 'resume', runDir: '/home/runs/a', running: true })
    // The earlier epoch and batch stay on the charts; the old "done" does not.
    expect(started.events!.map((e) => e.event)).toEqual(['batch', 'epoch'])
    h.finish(outcome('/home/runs/a'))
    await again

    const other = h.state.handle({ command: 'resumeTraining', runDir: '/home/runs/b' }, h.engine)
    expect(h.broadcast.at(-1)!.training).toMatchObject({ runDir: '/home/runs/b', events: [] })
    h.finish(outcome('/home/runs/b'))
    await other
  })

  it('a second Start while one runs goes to the engine (which refuses it) and leaves the run followed alone', async () => {
    const h = host()
    const first = h.state.handle({ command: 'train', config: { data: '/d', backbone: 'b' } }, h.engine)
    h.emit({ event: 'run', runDir: '/home/runs/a', resumed: false })
    const refusing = (): Promise<unknown> => Promise.reject(new Error('A training run is already in progress'))
    await expect(h.state.handle({ command: 'train', config: { data: '/d', backbone: 'b' } }, refusing)).rejects.toThrow('already in progress')
    expect((await h.snapshot()).training).toMatchObject({ serial: 1, running: true, runDir: '/home/runs/a', error: null })
    h.finish(outcome('/home/runs/a'))
    await first
  })

  it("keeps no learning-rate finder's events (it is not a run)", async () => {
    const h = host()
    h.emit({ event: 'batch', epoch: 1, batch: 1, batches: 1, loss: 1, acc: 0, eta: 0 })
    expect((await h.snapshot()).training.events).toEqual([])
  })

  it('thins batch points past the cap, keeping every epoch and the newest batch', () => {
    const log: TrainEvent[] = []
    for (let i = 1; i <= MAX_BATCH_EVENTS + 1; i++) {
      appendEvent(log, batch(1, i))
      if (i % 1000 === 0) appendEvent(log, epoch(i / 1000))
    }
    const batches = log.filter((e) => e.event === 'batch')
    expect(batches.length).toBe(MAX_BATCH_EVENTS / 2 + 1)
    expect(log.filter((e) => e.event === 'epoch')).toHaveLength(MAX_BATCH_EVENTS / 1000)
    expect(batches.at(-1)).toEqual(batch(1, MAX_BATCH_EVENTS + 1))
    expect(batches[1]).toEqual(batch(1, 3))
  })
})

describe('host session: dataset and choices', () => {
  it('remembers the open dataset and, per dataset folder, the choices made for it (in the studio home)', async () => {
    const h = host()
    expect((await h.snapshot()).dataset).toBeNull()
    await h.state.handle({ command: 'saveChoices', dir: '/data/weather', choices: CHOICES }, h.engine)
    await h.state.handle({ command: 'scan', dir: '/data/weather' }, h.engine)
    const snapshot = await h.snapshot()
    expect(snapshot.dataset).toEqual({ dir: '/data/weather', report: REPORT })
    expect(snapshot.choices).toEqual(CHOICES)
    expect(await h.state.handle({ command: 'readChoices', dir: '/data/other' }, h.engine)).toBeNull()

    // Another host process on the same home (the app started again) reads them back.
    const later = host(h.home)
    expect(await later.state.handle({ command: 'readChoices', dir: '/data/weather/' }, later.engine)).toEqual(CHOICES)
  })

  it('refuses choices that break the schema, and survives a damaged settings file', async () => {
    const h = host()
    const bad = { ...CHOICES, train: { ...CHOICES.train, epochs: 0 } }
    await expect(h.state.handle({ command: 'saveChoices', dir: '/d', choices: bad }, h.engine)).rejects.toThrow(
      /^Refused a malformed command: choices\.train\.epochs/
    )
    fs.writeFileSync(path.join(h.home, SETTINGS_FILE), '{ not json')
    const fresh = host(h.home)
    expect(await fresh.state.handle({ command: 'readChoices', dir: '/d' }, fresh.engine)).toBeNull()
    await fresh.state.handle({ command: 'saveChoices', dir: '/d', choices: CHOICES }, fresh.engine)
    expect(JSON.parse(fs.readFileSync(path.join(h.home, SETTINGS_FILE), 'utf8')).datasets[0]).toMatchObject({ dir: path.resolve('/d'), choices: CHOICES })
  })
})
