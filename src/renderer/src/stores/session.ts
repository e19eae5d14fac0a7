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

  /** After a dataset is opened: the choices remembered for it, or the defaults' tree when none. */
  async function restoreChoices(dir: string, classes: number): Promise<void> {
    const choices = await client.request({ command: 'readChoices', dir }).catch(() => null)
    await apply(choices, classes)
  }

  async function apply(choices: ModelChoices | null, classes: number): Promise<void> {
    applying++
    try {
      if (choices) training.settings = structuredClone(choices.train)
      await model.apply(choices, classes)
    } finally {
      // After the watchers have seen what applying changed.
      setTimeout(() => applying--, 0)
    }
  }

  function current(): ModelChoices {
    return {
      backbone: model.backbone,
      head: model.head,
      frozen: model.summary ? [...model.frozen] : null,
      train: training.settings
    }
  }

  watch(
    () => JSON.stringify(current()),
    () => {
      if (applying > 0 || !dataset.report) return
      const dir = dataset.dir
      if (timer) clearTimeout(timer)
      timer = setTimeout(() => {
        // A half-typed field (empty, out of range) is not saved; the last valid choices stay.
        const parsed = ModelChoices.safeParse(JSON.parse(JSON.stringify(current())))
        if (parsed.success && dir === dataset.dir) void client.request({ command: 'saveChoices', dir, choices: parsed.data }).catch(() => {})
      }, SAVE_DELAY_MS)
    }
  )

  client.onReconnect(() => void hydrate())

  return { hydrated, error, hydrate, restoreChoices }
})
