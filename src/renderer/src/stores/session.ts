// The window as a view of the host's session: on start (and after a lost connection) it takes the
// host's snapshot whole — the open dataset, the choices made for it, the training with its events —
// and it tells the host every choice made on the model and train screens, so they come back when
// the dataset is opened again (in this window, a reload, another one).
import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import { ModelChoices } from '../../../shared/session'
import { client } from '../client'
import { useDatasetStore } from './dataset'
import { useModelStore } from './model'
import { useTrainingStore } from './training'

/** Choices are saved this long after the last change (typing a number changes it per key). */
const SAVE_DELAY_MS = 300

export const useSessionStore = defineStore('session', () => {
  const dataset = useDatasetStore()
  const model = useModelStore()
  const training = useTrainingStore()
  const hydrated = ref(false)
  const error = ref<string | null>(null)
  /** While choices are being applied, the changes they make are not choices to save. */
  let applying = 0
  /**
   * Remembered choices being read or applied: the backbone cards wait meanwhile, so that a card
   * clicked just after a dataset opens is not undone by that dataset's choices arriving after it.
   */
  const busy = ref(false)
  let pending = 0
  async function track<T>(work: () => Promise<T>): Promise<T> {
    pending++
    busy.value = true
    try {
      return await work()
    } finally {
      if (--pending === 0) busy.value = false
    }
  }
  let timer: ReturnType<typeof setTimeout> | null = null

  async function hydrate(): Promise<void> {
    try {
      const snapshot = await client.request({ command: 'session' })
      training.hydrate(snapshot.training)
      if (snapshot.dataset) {
        await dataset.hydrate(snapshot.dataset)
        await apply(snapshot.choices, snapshot.dataset.report.classes.length)
      }
      error.value = null
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      hydrated.value = true
    }
  }

  /**
   * After a dataset is opened: the choices remembered for it; for a dataset never set up, the
   * choices on screen carry over (frozen layers too), as the starting point for this one.
   */
  function restoreChoices(dir: string, classes: number): Promise<void> {
    return track(async () => {
      const remembered = await client.request({ command: 'readChoices', dir }).catch(() => null)
      await apply(remembered ?? (model.summary ? ModelChoices.parse(JSON.parse(JSON.stringify(current()))) : null), classes)
    })
  }

  /** One at a time, in the order asked: the choices asked for last are the ones on screen. */
  let queue: Promise<void> = Promise.resolve()
  function apply(choices: ModelChoices | null, classes: number): Promise<void> {
    const applied = queue.then(async () => {
      applying++
      try {
        // Into the same object: the train form holds on to it.
        if (choices) Object.assign(training.settings, structuredClone(choices.train))
        await model.apply(choices, classes)
      } finally {
        // After the watchers have seen what applying changed; a change made meanwhile (a field
        // edited while the tree was loading) is saved now that the choices on screen are this dataset's.
        setTimeout(() => {
          applying--
          if (applying === 0 && changedWhileApplying) {
            changedWhileApplying = false
            scheduleSave()
          }
        }, 0)
      }
    })
    queue = applied
    return track(() => applied)
  }

  function current(): ModelChoices {
    return {
      backbone: model.backbone,
      head: model.head,
      frozen: model.summary ? [...model.frozen] : null,
      train: training.settings
    }
  }

  let changedWhileApplying = false
  function scheduleSave(): void {
    if (!dataset.report) return
    const dir = dataset.dir
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => {
      // A half-typed field (empty, out of range) is not saved; the last valid choices stay.
      const parsed = ModelChoices.safeParse(JSON.parse(JSON.stringify(current())))
      if (parsed.success && dir === dataset.dir && applying === 0) void client.request({ command: 'saveChoices', dir, choices: parsed.data }).catch(() => {})
    }, SAVE_DELAY_MS)
  }

  watch(
    () => JSON.stringify(current()),
    () => {
      if (applying > 0) changedWhileApplying = true
      else scheduleSave()
    }
  )

  client.onReconnect(() => void hydrate())

  return { hydrated, error, busy, hydrate, restoreChoices }
})
