// A training run as the window sees it: settings, live metrics from the engine's events (kept
// in plain arrays the charts read), progress, and the outcome.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, triggerRef } from 'vue'
import type { Augmentation, EpochMetrics, LrFinderResult, TrainConfigInput, TrainEvent } from '../../../shared/protocol'
import type { TrainOutcome } from '../../../shared/results'
import type { TrainingSnapshot } from '../../../shared/session'
import { NO_AUGMENTATION, TRAIN_DEFAULTS } from '../../../shared/train-settings'
import { client } from '../client'
import { IDLE, RunProgress, type ProgressView } from '../run-progress'
import { fieldProblem, type FieldValue } from '../settings-check'
import { phaseTwoStart, type PhaseEvent } from '../fine-tune'
import { useDatasetStore } from './dataset'
import { useModelStore } from './model'

export interface Settings {
  epochs: number
  batchSize: number
  learningRate: number
  optimizer: 'adam' | 'rmsprop' | 'sgd'
  augment: Augmentation
  earlyStopping: number | null
  reduceLr: number | null
  cacheFeatures: boolean
  seed: number
}

export const useTrainingStore = defineStore('training', () => {
  const settings = ref<Settings>({
    epochs: TRAIN_DEFAULTS.epochs,
    batchSize: TRAIN_DEFAULTS.batchSize,
    learningRate: TRAIN_DEFAULTS.learningRate,
    optimizer: TRAIN_DEFAULTS.optimizer,
    augment: { ...NO_AUGMENTATION },
    // Off unless the user gives a patience (the schema's default is null: no callback).
    earlyStopping: null,
    reduceLr: null,
    cacheFeatures: TRAIN_DEFAULTS.cacheFeatures,
    seed: TRAIN_DEFAULTS.seed
  })
  const running = ref(false)
  const error = ref<string | null>(null)
  const status = ref('')
  const path = ref<{ path: string; reason: string } | null>(null)
  const epochs = shallowRef<EpochMetrics[]>([])
  /** Per-batch points: x is a fractional epoch. */
  const batches = shallowRef<Array<{ x: number; loss: number; acc: number }>>([])
  const progress = ref({ done: 0, total: 0, eta: 0 })
  const skipped = ref<Array<{ file: string; reason: string }>>([])
  const outcome = ref<TrainOutcome | null>(null)
  /** The run Resume continues: the one the host followed last (a Start that failed early has none). */
  const lastRunDir = ref<string | null>(null)
  /** Epochs the followed run was set to (a window that did not start it has other settings). */
  const runEpochs = ref<number | null>(null)

  const fraction = computed(() => (progress.value.total ? progress.value.done / progress.value.total : 0))
  /** Every phase's progress as one bar and one time left (run-progress.ts). */
  const view = ref<ProgressView>(IDLE)
  let tracker = new RunProgress(() => runEpochs.value ?? settings.value.epochs)
  /** Set by Stop until the run ends: no later event's message replaces "Stopping…". */
  const stopping = ref(false)

  /** What is wrong with each field as typed, in plain words; null where it is fine. */
  const problems = computed(() => {
    const s = settings.value
    const check = (setting: Parameters<typeof fieldProblem>[0], value: unknown, optional = false) => fieldProblem(setting, value as FieldValue, optional)
    return {
      epochs: check('epochs', s.epochs),
      batchSize: check('batchSize', s.batchSize),
      learningRate: check('learningRate', s.learningRate),
      earlyStopping: check('earlyStopping', s.earlyStopping, true),
      reduceLr: check('reduceLr', s.reduceLr, true),
      seed: check('seed', s.seed),
      rotate: check('rotate', s.augment.rotate),
      zoom: check('zoom', s.augment.zoom),
      shear: check('shear', s.augment.shear),
      brightness: check('brightness', s.augment.brightness)
    }
  })
  const valid = computed(() => Object.values(problems.value).every((p) => p === null))

  /** The engine's 'phase' event of a two-phase run (h10's TrainEvent), and where the charts mark it. */
  const phaseEvent = ref<PhaseEvent | null>(null)
  const phaseTwoAt = computed(() => phaseTwoStart(epochs.value, phaseEvent.value))

  client.onEvent((event) => {
    if (event.event === 'train') receive(event.data)
    // The host says when a training starts (in any window), learns its folder, or ends.
    if (event.event === 'session-training') follow(event.training)
  })

  function follow(host: Omit<TrainingSnapshot, 'events'> & { events: TrainingSnapshot['events'] | null }): void {
    if (host.events !== null) replay(host.events)
    running.value = host.running
    lastRunDir.value = host.runDir
    runEpochs.value = host.epochs
    if (!host.running) {
      outcome.value = host.outcome
      if (host.error !== null) error.value = host.error
    } else {
      outcome.value = null
      error.value = null
    }
  }

  function replay(events: TrainingSnapshot['events']): void {
    epochs.value = []
    batches.value = []
    skipped.value = []
    path.value = null
    progress.value = { done: 0, total: 0, eta: 0 }
    status.value = ''
    tracker = new RunProgress(() => runEpochs.value ?? settings.value.epochs)
    view.value = IDLE
    phaseEvent.value = null
    for (const event of events) receive(event)
  }

  /** Takes the host's training whole: a window that connects (or reconnects) continues from it. */
  function hydrate(snapshot: TrainingSnapshot): void {
    follow(snapshot)
  }

  function receive(event: TrainEvent): void {
    const phase = event as TrainEvent | PhaseEvent
    if (phase.event === 'phase') {
      phaseEvent.value = phase
      status.value = phase.message
      return
    }
    switch (event.event) {
      case 'run':
        lastRunDir.value = event.runDir
        // The charts are cleared only once the engine has taken the new run, never on a refused start.
        if (!event.resumed) {
          epochs.value = []
          batches.value = []
          skipped.value = []
        }
        break
      case 'status':
        view.value = tracker.status(event)
        if (!stopping.value) status.value = view.value.label
        break
      case 'path':
        path.value = { path: event.path, reason: event.reason }
        break
      case 'batch':
        batches.value.push({ x: event.epoch - 1 + event.batch / event.batches, loss: event.loss, acc: event.acc })
        triggerRef(batches)
        progress.value = {
          done: (event.epoch - 1) * event.batches + event.batch,
          total: (runEpochs.value ?? settings.value.epochs) * event.batches,
          eta: event.eta
        }
        view.value = tracker.batch(event)
        if (!stopping.value) status.value = view.value.label
        break
      case 'epoch': {
        const { event: _e, epochs: total, eta, best: _b, ...metrics } = event
        runEpochs.value = total
        epochs.value.push(metrics)
        triggerRef(epochs)
        tracker.setEpochs(event.epochs)
        progress.value = { ...progress.value, eta }
        break
      }
      case 'skipped':
        skipped.value.push({ file: event.file, reason: event.reason })
        break
      case 'notice':
        if (!stopping.value) status.value = event.message
        break
      case 'done':
        stopping.value = false
        status.value = `Finished: ${event.stopped}`
        view.value = tracker.finish(status.value)
        break
    }
  }

  function config(): TrainConfigInput {
    const dataset = useDatasetStore()
    const model = useModelStore()
    const s = settings.value
    return {
      data: dataset.dir,
      backbone: model.backbone,
      head: model.head,
      freeze: model.freezeSpec,
      epochs: s.epochs,
      batchSize: s.batchSize,
      learningRate: s.learningRate,
      optimizer: s.optimizer,
      augment: s.augment,
      earlyStopping: s.earlyStopping === null ? null : { monitor: 'val_loss', patience: s.earlyStopping, restoreBest: true },
      reduceLrOnPlateau: s.reduceLr === null ? null : { monitor: 'val_loss', factor: 0.1, patience: s.reduceLr, minLr: 0 },
      cacheFeatures: s.cacheFeatures,
      seed: s.seed,
      ...(dataset.valOnTest && dataset.testFolder ? { val: dataset.testFolder } : {}),
      ...(dataset.excludedFiles.length || dataset.excludedClasses.length ? { exclude: dataset.exclusions } : {}),
      batchNormStatistics: model.batchNormStatistics,
      // TrainConfig.twoPhase arrives with h10's engine change; sent only when on.
      ...(model.twoPhase ? { twoPhase: { ...model.twoPhase } } : {}),
      // The run is named after the model it continues.
      ...(model.startFrom ? { startFrom: model.startFrom, backbone: model.startFrom.split(/[\\/]/).filter(Boolean).pop()! } : {})
    }
  }

  async function start(resumeDir?: string): Promise<void> {
    // The form says what is wrong beside each field; a start with a bad field goes nowhere.
    if (!resumeDir && !valid.value) return
    running.value = true
    stopping.value = false
    error.value = null
    outcome.value = null
    if (!resumeDir) phaseEvent.value = null
    path.value = null
    status.value = 'Starting'
    tracker = new RunProgress(() => runEpochs.value ?? settings.value.epochs)
    view.value = IDLE
    progress.value = { done: 0, total: 0, eta: 0 }
    // A new run has no folder until the engine names one: Resume must never fall back on an older run.
    if (!resumeDir) lastRunDir.value = null
    runEpochs.value = resumeDir ? runEpochs.value : settings.value.epochs
    try {
      outcome.value = await client.request(resumeDir ? { command: 'resumeTraining', runDir: resumeDir } : { command: 'train', config: config() })
      lastRunDir.value = outcome.value.runDir
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      running.value = false
      // A run stopped before it could finish (no `done` event) still says it has stopped.
      if (stopping.value) status.value = error.value ? 'Stopped (see the error below)' : 'Stopped'
      stopping.value = false
    }
  }

  /** The learning-rate range test on the current settings; its curve and suggestion stay until the next. */
  const lrFinder = ref<LrFinderResult | null>(null)
  async function findLearningRate(): Promise<void> {
    if (!valid.value) return
    running.value = true
    error.value = null
    lrFinder.value = null
    try {
      lrFinder.value = await client.request({ command: 'findLearningRate', config: config() })
      status.value =
        lrFinder.value.suggestion === null
          ? 'The loss did not fall at any learning rate tried'
          : `Suggested learning rate: ${lrFinder.value.suggestion.toPrecision(2)}`
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      running.value = false
    }
  }

  async function stop(): Promise<void> {
    stopping.value = true
    status.value = 'Stopping… what is done so far will be kept'
    await client.request({ command: 'stopTraining' })
  }

  /** Resume continues this run (named on the button); none after a completed run or a Start that failed early. */
  const resumable = computed(() => (running.value || !lastRunDir.value || outcome.value?.stopped === 'completed' ? null : lastRunDir.value))

  return {
    phaseTwoAt,
    settings,
    running,
    stopping,
    problems,
    valid,
    view,
    error,
    status,
    path,
    epochs,
    batches,
    progress,
    fraction,
    skipped,
    outcome,
    lastRunDir,
    runEpochs,
    resumable,
    lrFinder,
    start,
    stop,
    findLearningRate,
    hydrate
  }
})
