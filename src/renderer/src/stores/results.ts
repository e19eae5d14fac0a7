// What came out of training: the evaluation and earlier runs. Predictions have their own store.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { EvaluationReport, RunSummary } from '../../../shared/protocol'
import { client } from '../client'
import { usePredictionsStore } from './predictions'

export const useResultsStore = defineStore('results', () => {
  const evaluation = ref<EvaluationReport | null>(null)
  const evaluationError = ref<string | null>(null)
  const runs = ref<RunSummary[]>([])

  /** Offers a trained model for prediction and chooses it. */
  function offerModel(dir: string): void {
    usePredictionsStore().offerModel(dir)
  }

  async function loadEvaluation(runDir: string): Promise<void> {
    try {
      evaluation.value = await client.request({ command: 'readEvaluation', runDir })
      evaluationError.value = null
    } catch (e) {
      evaluationError.value = (e as Error).message
    }
  }

  async function loadRuns(): Promise<void> {
    runs.value = await client.request({ command: 'listRuns' })
  }

  return { evaluation, evaluationError, offerModel, runs, loadEvaluation, loadRuns }
})
