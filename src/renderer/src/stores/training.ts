// A training run as the window sees it: settings, live metrics from the engine's events (kept
// in plain arrays the charts read), progress, and the outcome.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, triggerRef } from 'vue'
import type { Augmentation, EpochMetrics, LrFinderResult, TrainConfigInput, TrainEvent } from '../../../shared/protocol'
import type { TrainOutcome } from '../../../shared/results'
import { NO_AUGMENTATION, TRAIN_DEFAULTS } from '../../../shared/train-settings'
import { client } from '../client'
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
  const lastRunDir = ref<string | null>(null)

  const fraction = computed(() => (progress.value.total ? progress.value.done / progress.value.total : 0))

  client.onEvent((event) => {
    if (event.event === 'train') receive(event.data)
  })

  function receive(event: TrainEvent): void {
    switch (event.event) {
      case 'run':
        lastRunDir.value = event.runDir
        break
      case 'status':
        status.value = event.total ? `${event.message} (${event.done} of ${event.total})` : event.message
        break
      case 'path':
        path.value = { path: event.path, reason: event.reason }
        break
      case 'batch':
        batches.value.push({ x: event.epoch - 1 + event.batch / event.batches, loss: event.loss, acc: event.acc })
        triggerRef(batches)
        progress.value = { done: (event.epoch - 1) * event.batches + event.batch, total: settings.value.epochs * event.batches, eta: event.eta }
        status.value = `Epoch ${event.epoch}, batch ${event.batch} of ${event.batches}`
        break
      case 'epoch': {
        const { event: _e, epochs: _n, eta, best: _b, ...metrics } = event
        epochs.value.push(metrics)
        triggerRef(epochs)
        progress.value = { ...progress.value, eta }
        break
      }
      case 'skipped':
        skipped.value.push({ file: event.file, reason: event.reason })
        break
      case 'notice':
        status.value = event.message
        break
      case 'done':
        status.value = `Finished: ${event.stopped}`
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
      // The run is named after the model it continues.
      ...(model.startFrom ? { startFrom: model.startFrom, backbone: model.startFrom.split(/[\\/]/).filter(Boolean).pop()! } : {})
    }
  }

  async function start(resumeDir?: string): Promise<void> {
    running.value = true
    error.value = null
    outcome.value = null
    if (!resumeDir) {
      epochs.value = []
      batches.value = []
      skipped.value = []
    }
    path.value = null
    try {
      outcome.value = await client.request(resumeDir ? { command: 'resumeTraining', runDir: resumeDir } : { command: 'train', config: config() })
      lastRunDir.value = outcome.value.runDir
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      running.value = false
    }
  }

  /** The learning-rate range test on the current settings; its curve and suggestion stay until the next. */
  const lrFinder = ref<LrFinderResult | null>(null)
  async function findLearningRate(): Promise<void> {
    running.value = true
    error.value = null
    lrFinder.value = null
    try {
      lrFinder.value = await client.request({ command: 'findLearningRate', config: config() })
      status.value = lrFinder.value.suggestion === null ? 'The loss did not fall at any learning rate tried' : `Suggested learning rate: ${lrFinder.value.suggestion.toPrecision(2)}`
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      running.value = false
    }
  }

  async function stop(): Promise<void> {
    status.value = 'Stopping after this batch; the best model so far will be kept'
    await client.request({ command: 'stopTraining' })
  }

  return { settings, running, error, status, path, epochs, batches, progress, fraction, skipped, outcome, lastRunDir, lrFinder, start, stop, findLearningRate }
})
