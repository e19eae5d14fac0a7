// @vitest-environment happy-dom
// The training form's checks, the run's progress and Stop, and the model card and tree agreeing.
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { EngineEvent, ModelSummary, TrainEvent } from '../../src/shared/protocol'
import { SUMMARY } from './fixtures'

const listeners: Array<(event: EngineEvent) => void> = []
vi.mock('../../src/renderer/src/client', () => ({
  client: {
    host: 'browser',
    request: vi.fn(async () => SUMMARY),
    onEvent: (listener: (event: EngineEvent) => void) => {
      listeners.push(listener)
      return () => {}
    },
    thumbnailUrl: () => ''
  }
}))

const { useModelStore } = await import('../../src/renderer/src/stores/model')
const { useTrainingStore } = await import('../../src/renderer/src/stores/training')
const { useDatasetStore } = await import('../../src/renderer/src/stores/dataset')
const { client } = await import('../../src/renderer/src/client')
const { fieldProblem } = await import('../../src/renderer/src/settings-check')
const { RunProgress, formatDuration } = await import('../../src/renderer/src/run-progress')

const send = (data: TrainEvent) => listeners.forEach((l) => l({ event: 'train', requestId: 1, data }))
const epoch = (n: number, lr = 0.001): TrainEvent => ({
  event: 'epoch',
  epoch: n,
  epochs: 3,
  loss: 1,
  acc: 0.5,
  val_loss: 1,
  val_acc: 0.5,
  lr,
  seconds: 1,
  eta: 1,
  best: true
})

beforeEach(() => {
  setActivePinia(createPinia())
  listeners.length = 0
  vi.mocked(client.request).mockReset()
})

describe('form fields checked as typed', () => {
  it('say what is wrong in plain words: empty, not whole, too small, too large', () => {
    expect(fieldProblem('epochs', 10)).toBeNull()
    expect(fieldProblem('epochs', '')).toBe('Enter a whole number from 1 to 10000.')
    expect(fieldProblem('epochs', 2.5)).toBe('Must be a whole number (from 1 to 10000).')
    expect(fieldProblem('epochs', 0)).toBe('Too small: must be a whole number from 1 to 10000.')
    expect(fieldProblem('batchSize', 5000)).toBe('Too large: must be a whole number from 1 to 4096.')
    expect(fieldProblem('learningRate', 0)).toBe('Too small: must be a number above 0 and at most 10.')
    expect(fieldProblem('learningRate', Number.NaN)).toBe('Enter a number above 0 and at most 10.')
    // An optional patience left empty is "off", not an error; a wrong one still is.
    expect(fieldProblem('earlyStopping', null, true)).toBeNull()
    expect(fieldProblem('earlyStopping', -1, true)).toMatch(/^Too small: must be a whole number from 0 to/)
  })

  it('an invalid field stops Start before anything is sent, and the charts keep the last run', () => {
    const training = useTrainingStore()
    send({ event: 'run', runDir: '/runs/1', resumed: false })
    send(epoch(1))
    send(epoch(2))
    training.settings.epochs = 0
    expect(training.problems.epochs).toMatch(/^Too small/)
    expect(training.valid).toBe(false)
    void training.start()
    expect(client.request).not.toHaveBeenCalled()
    expect(training.epochs).toHaveLength(2)
    expect(training.running).toBe(false)
  })

  it('a run the engine refuses leaves the charts; a run it takes clears them', async () => {
    const training = useTrainingStore()
    send({ event: 'run', runDir: '/runs/1', resumed: false })
    send(epoch(1))
    vi.mocked(client.request).mockRejectedValueOnce(new Error('Dataset folder not found: /x'))
    await training.start()
    expect(training.error).toBe('Dataset folder not found: /x')
    expect(training.epochs).toHaveLength(1)
    send({ event: 'run', runDir: '/runs/2', resumed: false })
    expect(training.epochs).toHaveLength(0)
  })
})

describe('run progress', () => {
  it('starts empty, covers extraction then the epochs, and its time left does not jump at an epoch boundary', () => {
    let now = 0
    const progress = new RunProgress(
      () => 2,
      () => now
    )
    expect(progress.view.fraction).toBeNull()
    // Extraction: no time left until a pace is measured, then (total - done) at that pace.
    let view = progress.status({ event: 'status', phase: 'extracting', message: 'Computing train features', done: 0, total: 400 })
    expect(view).toMatchObject({ phase: 'extracting', label: 'Computing train features: 0 of 400', fraction: 0, eta: null })
    now = 10_000
    view = progress.status({ event: 'status', phase: 'extracting', message: 'Computing train features', done: 100, total: 400 })
    expect(view.fraction).toBe(0.25)
    expect(view.eta).toBeCloseTo(30, 6)
    expect(view.etaCovers).toBe('step')
    // Epochs of 10 batches, one a second, with a 5 s validation pause after epoch 1.
    const batch = (e: number, b: number) => progress.batch({ event: 'batch', epoch: e, batch: b, batches: 10, loss: 1, acc: 0.5, eta: 0 })
    now = 20_000
    expect(batch(1, 1).eta).toBeNull()
    const etas: Array<number | null> = []
    for (let b = 2; b <= 10; b++) {
      now += 1000
      etas.push(batch(1, b).eta)
    }
    now += 5000 + 1000
    const afterPause = batch(2, 1)
    expect(afterPause.fraction).toBeCloseTo(11 / 20, 6)
    expect(afterPause.label).toBe('Epoch 2 of 2, batch 1 of 10')
    // One batch after the first is too little to go by; two are enough (1 s each, 17 to go).
    expect(etas[0]).toBeNull()
    expect(etas[1]).toBeCloseTo(17, 6)
    // The pause slows the measured pace a little; it does not restart the estimate from one batch.
    expect(afterPause.eta!).toBeGreaterThan(9)
    expect(afterPause.eta!).toBeLessThan(15)
    expect(progress.finish('Finished: completed').fraction).toBe(1)
  })

  it("the store shows a new run from zero, not the last run's full bar", async () => {
    const training = useTrainingStore()
    training.settings.epochs = 1
    send({ event: 'batch', epoch: 1, batch: 4, batches: 4, loss: 1, acc: 0.5, eta: 0 })
    expect(training.view.fraction).toBe(1)
    let finish: (v: unknown) => void = () => {}
    vi.mocked(client.request).mockImplementationOnce(() => new Promise((resolve) => (finish = resolve as (v: unknown) => void)) as never)
    const started = training.start()
    expect(training.view.fraction).toBeNull()
    expect(training.status).toBe('Starting')
    finish({ runDir: '/r', modelDir: '/r/model', valAcc: 1, testAcc: null, seconds: 1, epochs: 1, stopped: 'completed' })
    await started
  })

  it('formats durations', () => {
    expect(formatDuration(44.6)).toBe('45 s')
    expect(formatDuration(185)).toBe('3 min 5 s')
    expect(formatDuration(7800)).toBe('2 h 10 min')
  })
})

describe('Stop', () => {
  it('"Stopping…" stays through later batches, notices and extraction until the run ends', async () => {
    const training = useTrainingStore()
    let finish: (v: unknown) => void = () => {}
    vi.mocked(client.request).mockImplementation(((command: { command: string }) => {
      if (command.command === 'train') return new Promise((resolve) => (finish = resolve))
      return Promise.resolve(null)
    }) as never)
    const started = training.start()
    send({ event: 'status', phase: 'extracting', message: 'Computing train features', done: 8, total: 400 })
    await training.stop()
    expect(training.stopping).toBe(true)
    send({ event: 'status', phase: 'extracting', message: 'Computing train features', done: 16, total: 400 })
    send({ event: 'notice', message: 'something' })
    send({ event: 'batch', epoch: 1, batch: 1, batches: 4, loss: 1, acc: 0.5, eta: 3 })
    expect(training.status).toMatch(/^Stopping…/)
    send({ event: 'done', val_acc: null, test_acc: null, seconds: 1, model: '/m', epochs: 0, stopped: 'stopped' })
    finish({ runDir: '/r', modelDir: '/r/model', valAcc: null, testAcc: null, seconds: 1, epochs: 0, stopped: 'stopped' })
    await started
    expect(training.stopping).toBe(false)
    expect(training.status).toBe('Finished: stopped')
  })
})

describe('backbone card and layer tree', () => {
  it('show the same model however the replies arrive: a stale reply is ignored', async () => {
    const model = useModelStore()
    const other: ModelSummary = { ...SUMMARY, totalParameters: 999 }
    const replies: Array<(value: ModelSummary) => void> = []
    vi.mocked(client.request).mockImplementation(() => new Promise((resolve) => replies.push(resolve as (value: ModelSummary) => void)))
    model.backbone = 'resnet50'
    const slow = model.load()
    model.backbone = 'mobilenet_v1_0.25_224'
    const fast = model.load()
    expect(model.upToDate).toBe(false)
    // The second (latest) answer comes first, then the first one, late.
    replies[1](other)
    await fast
    expect(model.summaryBackbone).toBe('mobilenet_v1_0.25_224')
    replies[0](SUMMARY)
    await slow
    expect(model.summary?.totalParameters).toBe(999)
    expect(model.summaryBackbone).toBe('mobilenet_v1_0.25_224')
    expect(model.upToDate).toBe(true)
    expect(model.loading).toBe(false)
  })
})

describe('dataset exclusions', () => {
  it('go into the training settings, and the warnings they settle disappear', () => {
    const dataset = useDatasetStore()
    const training = useTrainingStore()
    dataset.report = {
      root: '/d',
      layout: 'splits',
      classes: ['ants', 'bees', 'wasps'],
      splits: [
        { name: 'train', source: '/d/train', counts: { ants: 2, bees: 2, wasps: 0 }, total: 4 },
        { name: 'val', source: '/d/val', counts: { ants: 1, bees: 1, wasps: 0 }, total: 2 },
        { name: 'test', source: '/d/test', counts: { ants: 1, bees: 1, wasps: 0 }, total: 2 }
      ],
      missing: [],
      skipped: [],
      notes: [],
      duplicates: [{ files: ['/d/train/ants/a.jpg', '/d/val/ants/a2.jpg'], splits: ['train', 'val'] }],
      validation: { kind: 'folder' },
      total: 8
    }
    expect(dataset.warnings.map((w) => w.kind)).toEqual(['empty-class', 'duplicate-across-splits'])
    dataset.toggleClass('wasps')
    dataset.toggleFile('/d/val/ants/a2.jpg')
    expect(dataset.warnings).toEqual([])
    dataset.valOnTest = true
    void training.start()
    const sent = vi.mocked(client.request).mock.calls[0][0] as { config: { exclude: unknown; val: string } }
    expect(sent.config.exclude).toEqual({ files: ['/d/val/ants/a2.jpg'], classes: ['wasps'] })
    expect(sent.config.val).toBe('/d/test')
  })
})
