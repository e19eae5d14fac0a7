// Earlier runs as the Runs view manages them: the list, names, deletion, histories for comparing,
// and exports. Every change goes to the engine (the run folders are the truth) and the list is read again.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { EpochMetrics, RunSummary } from '../../../shared/protocol'
import { client } from '../client'

export const useRunsStore = defineStore('runs', () => {
  const runs = ref<RunSummary[]>([])
  const error = ref<string | null>(null)
  /** Per run folder, the history read for comparing. */
  const histories = ref<Record<string, EpochMetrics[]>>({})
  /** Per run folder, what its last export wrote (shown under the run). */
  const exported = ref<Record<string, string>>({})

  async function guarded(action: () => Promise<void>): Promise<void> {
    try {
      await action()
      error.value = null
    } catch (e) {
      error.value = (e as Error).message
    }
  }

  const load = (): Promise<void> =>
    guarded(async () => {
      runs.value = await client.request({ command: 'listRuns' })
    })

  const rename = (runDir: string, name: string): Promise<void> =>
    guarded(async () => {
      await client.request({ command: 'renameRun', runDir, name })
      runs.value = await client.request({ command: 'listRuns' })
    })

  const remove = (runDir: string): Promise<void> =>
    guarded(async () => {
      await client.request({ command: 'deleteRun', runDir })
      const { [runDir]: _gone, ...rest } = histories.value
      histories.value = rest
      runs.value = await client.request({ command: 'listRuns' })
    })

  async function history(runDir: string): Promise<void> {
    if (histories.value[runDir]) return
    await guarded(async () => {
      const { history } = await client.request({ command: 'runHistory', runDir })
      histories.value = { ...histories.value, [runDir]: history }
    })
  }

  /** history.csv in the run's folder, and the text for the browser to download. */
  async function exportCsv(runDir: string): Promise<string | null> {
    let text: string | null = null
    await guarded(async () => {
      const { file, csv } = await client.request({ command: 'exportRunCsv', runDir })
      exported.value = { ...exported.value, [runDir]: `History written to ${file}` }
      text = csv
    })
    return text
  }

  /** The saved model as a Keras .h5 file in the run's folder. */
  const exportKeras = (run: RunSummary): Promise<void> =>
    guarded(async () => {
      exported.value = { ...exported.value, [run.dir]: 'Writing the Keras file…' }
      const out = `${run.dir}${run.dir.includes('\\') ? '\\' : '/'}model.h5`
      const { file } = await client.request({ command: 'exportKeras', model: run.modelDir!, out })
      exported.value = { ...exported.value, [run.dir]: `Keras model written to ${file}` }
    })

  return { runs, error, histories, exported, load, rename, remove, history, exportCsv, exportKeras }
})
