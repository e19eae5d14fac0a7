// What came out of training: the evaluation, predictions on dropped photos, and earlier runs.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { EvaluationReport, PredictionResult, RunSummary } from '../../../shared/protocol'
import { client } from '../client'

export interface Prediction {
  name: string
  preview: string
  result: PredictionResult | null
}

export const useResultsStore = defineStore('results', () => {
  const evaluation = ref<EvaluationReport | null>(null)
  const evaluationError = ref<string | null>(null)
  const predictions = ref<Prediction[]>([])
  const predicting = ref(false)
  const predictError = ref<string | null>(null)
  /** A trained model to predict with; null: the plain ImageNet backbone. */
  const predictModel = ref<string | null>(null)
  /** Trained models offered for prediction (this session's and any picked from the runs). */
  const models = ref<string[]>([])

  function offerModel(dir: string): void {
    if (!models.value.includes(dir)) models.value = [dir, ...models.value]
    predictModel.value = dir
  }
  const runs = ref<RunSummary[]>([])

  async function loadEvaluation(runDir: string): Promise<void> {
    try {
      evaluation.value = await client.request<EvaluationReport>({ command: 'readEvaluation', runDir })
      evaluationError.value = null
    } catch (e) {
      evaluationError.value = (e as Error).message
    }
  }

  async function classify(files: File[], backbone: string): Promise<void> {
    predicting.value = true
    predictError.value = null
    const entries: Prediction[] = files.map((f) => ({ name: f.name, preview: URL.createObjectURL(f), result: null }))
    predictions.value = [...entries, ...predictions.value]
    try {
      const images = await Promise.all(files.map(async (f) => ({ name: f.name, data: await toBase64(f) })))
      const target = predictModel.value ? { model: predictModel.value } : { backbone }
      const results = await client.request<PredictionResult[]>({ command: 'classifyImages', images, top: 5, ...target })
      results.forEach((result, i) => (entries[i].result = result))
      predictions.value = [...predictions.value]
    } catch (e) {
      predictError.value = (e as Error).message
    } finally {
      predicting.value = false
    }
  }

  async function loadRuns(): Promise<void> {
    runs.value = await client.request<RunSummary[]>({ command: 'listRuns' })
  }

  return { evaluation, evaluationError, predictions, predicting, predictError, predictModel, models, offerModel, runs, loadEvaluation, classify, loadRuns }
})

async function toBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer())
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}
