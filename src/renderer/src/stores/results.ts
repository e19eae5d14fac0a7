// What came out of training: the evaluation, predictions on dropped photos, and earlier runs.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { EvaluationReport, PredictionResult, RunSummary } from '../../../shared/protocol'
import { client } from '../client'
import { MAX_UPLOAD_BYTES, uploadBatches } from '../upload-batches'

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
      evaluation.value = await client.request({ command: 'readEvaluation', runDir })
      evaluationError.value = null
    } catch (e) {
      evaluationError.value = (e as Error).message
    }
  }

  /** Classifies photos in groups (see upload-batches), filling in each card as its group returns. */
  async function classify(files: File[], backbone: string): Promise<void> {
    predicting.value = true
    predictError.value = null
    const entries: Prediction[] = files.map((f) => ({ name: f.name, preview: URL.createObjectURL(f), result: null }))
    predictions.value = [...entries, ...predictions.value]
    const target = predictModel.value ? { model: predictModel.value } : { backbone }
    const sendable: number[] = []
    files.forEach((file, i) => {
      if (file.size <= MAX_UPLOAD_BYTES) sendable.push(i)
      else entries[i].result = { file: file.name, error: `${file.name} is ${megabytes(file.size)}: photos up to ${megabytes(MAX_UPLOAD_BYTES)} can be classified here` }
    })
    try {
      for (const batch of uploadBatches(sendable.map((i) => files[i].size))) {
        const chosen = batch.map((b) => sendable[b])
        const images = await Promise.all(chosen.map(async (i) => ({ name: files[i].name, data: await toBase64(files[i]) })))
        const results = await client.request({ command: 'classifyImages', images, top: 5, ...target })
        results.forEach((result, j) => (entries[chosen[j]].result = result))
        predictions.value = [...predictions.value]
      }
    } catch (e) {
      predictError.value = (e as Error).message
    } finally {
      predictions.value = [...predictions.value]
      predicting.value = false
    }
  }

  async function loadRuns(): Promise<void> {
    runs.value = await client.request({ command: 'listRuns' })
  }

  return { evaluation, evaluationError, predictions, predicting, predictError, predictModel, models, offerModel, runs, loadEvaluation, classify, loadRuns }
})

/** The browser's own encoder: building the string in script took seconds for a 20 MB photo. */
function toBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => {
      const url = reader.result as string
      resolve(url.slice(url.indexOf(',') + 1))
    }
    reader.onerror = () => reject(new Error(`Cannot read ${file.name}: ${reader.error?.message ?? 'unknown error'}`))
    reader.readAsDataURL(file)
  })
}

const megabytes = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`
