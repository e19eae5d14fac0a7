// Photos classified in the Predict view, each naming the model that made it; which model is chosen
// (remembered across reloads: a view preference); photos from files, the webcam or a whole folder.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { PredictionResult } from '../../../shared/protocol'
import { client } from '../client'
import { imageNetName, modelName } from '../model-name'
import { predictionsCsv } from '../predictions-csv'
import { MAX_UPLOAD_BYTES, uploadBatches } from '../upload-batches'

export interface Prediction {
  id: number
  /** The photo's file name (its full path for a folder's photos). */
  name: string
  preview: string
  source: 'file' | 'webcam' | 'folder'
  /** The model that made it, as a person knows it (run name, or ImageNet with the backbone). */
  model: string
  result: PredictionResult | null
}

export interface ModelOption {
  dir: string
  name: string
}

/** Top classes asked for: bars beyond the fifth say nothing a person reads. */
export const TOP = 5
/** Photos of a folder sent per request (by path: only names cross, the host reads the files). */
export const FOLDER_GROUP = 16
export const CHOSEN_MODEL_KEY = 'transfer-studio.predict.model'

function remembered(): string | null {
  try {
    return localStorage.getItem(CHOSEN_MODEL_KEY) || null
  } catch {
    return null
  }
}

export const usePredictionsStore = defineStore('predictions', () => {
  const predictions = ref<Prediction[]>([])
  const predicting = ref(false)
  const predictError = ref<string | null>(null)
  /** Trained models offered for prediction: every run's saved model, and any offered since. */
  const models = ref<ModelOption[]>([])
  /** The model folder to predict with; null: the plain ImageNet classifier of the chosen backbone. */
  const predictModel = ref<string | null>(remembered())
  const folder = ref<{ dir: string; total: number; done: number; skipped: number } | null>(null)
  let nextId = 1

  const chosenName = (backbone: string): string => {
    const dir = predictModel.value
    return dir ? (models.value.find((m) => m.dir === dir)?.name ?? modelName(dir)) : imageNetName(backbone)
  }

  function choose(dir: string | null): void {
    predictModel.value = dir
    try {
      if (dir) localStorage.setItem(CHOSEN_MODEL_KEY, dir)
      else localStorage.removeItem(CHOSEN_MODEL_KEY)
    } catch {
      // Storage refused (a private window): the choice holds for this page only.
    }
  }

  function addModel(dir: string, name = modelName(dir)): void {
    if (!models.value.some((m) => m.dir === dir)) models.value = [{ dir, name }, ...models.value]
  }

  /** Offers `dir` and chooses it (after training, or "Predict with" in Runs). */
  function offerModel(dir: string): void {
    addModel(dir)
    choose(dir)
  }

  /** Every run's saved model; a remembered choice whose model is gone falls back to ImageNet. */
  async function loadModels(): Promise<void> {
    const runs = await client.request({ command: 'listRuns' })
    for (const run of [...runs].reverse()) {
      // A run may carry a name given in the Runs view; its folder's name otherwise.
      const named = (run as { name?: unknown }).name
      if (run.modelDir) addModel(run.modelDir, typeof named === 'string' && named ? named : modelName(run.dir))
    }
    if (predictModel.value && !models.value.some((m) => m.dir === predictModel.value)) predictModel.value = null
  }

  function start(entries: Prediction[]): void {
    predicting.value = true
    predictError.value = null
    predictions.value = [...entries, ...predictions.value]
  }

  function entry(name: string, preview: string, source: Prediction['source'], model: string): Prediction {
    return { id: nextId++, name, preview, source, model, result: null }
  }

  /** Classifies photos in groups (see upload-batches), filling in each card as its group returns. */
  async function classify(files: File[], backbone: string, source: Prediction['source'] = 'file'): Promise<void> {
    const model = chosenName(backbone)
    const target = predictModel.value ? { model: predictModel.value } : { backbone }
    const entries = files.map((f) => entry(f.name, URL.createObjectURL(f), source, model))
    start(entries)
    // Cards are reactive copies: results are written through the list, not the originals.
    const card = (i: number) => predictions.value.find((p) => p.id === entries[i].id)
    const sendable: number[] = []
    files.forEach((file, i) => {
      if (file.size <= MAX_UPLOAD_BYTES) sendable.push(i)
      else
        card(i)!.result = {
          file: file.name,
          error: `${file.name} is ${megabytes(file.size)}: photos up to ${megabytes(MAX_UPLOAD_BYTES)} can be classified here`
        }
    })
    try {
      for (const batch of uploadBatches(sendable.map((i) => files[i].size))) {
        const chosen = batch.map((b) => sendable[b])
        const images = await Promise.all(chosen.map(async (i) => ({ name: files[i].name, data: await toBase64(files[i]) })))
        const results = await client.request({ command: 'classifyImages', images, top: TOP, ...target })
        results.forEach((result, j) => {
          const c = card(chosen[j])
          if (c) c.result = result
        })
      }
    } catch (e) {
      predictError.value = (e as Error).message
    } finally {
      predicting.value = false
    }
  }

  /** Every photo directly inside `dir`, listed by the host and classified by path in groups. */
  async function classifyFolder(dir: string, backbone: string): Promise<void> {
    const model = chosenName(backbone)
    const modelDir = predictModel.value
    predicting.value = true
    predictError.value = null
    try {
      const listed = await client.request({ command: 'listFolderImages', dir })
      folder.value = { dir: listed.dir, total: listed.files.length, done: 0, skipped: listed.skipped.length }
      const entries = listed.files.map((file) => entry(file, client.thumbnailUrl(file, 256), 'folder', model))
      start(entries)
      for (let start = 0; start < listed.files.length; start += FOLDER_GROUP) {
        const files = listed.files.slice(start, start + FOLDER_GROUP)
        const results = modelDir
          ? await client.request({ command: 'predictWithModel', model: modelDir, files, top: TOP })
          : await client.request({ command: 'classifyImageNet', backbone, files, top: TOP })
        results.forEach((result, j) => {
          const c = predictions.value.find((p) => p.id === entries[start + j].id)
          if (c) c.result = result
        })
        folder.value = { ...folder.value, done: Math.min(listed.files.length, start + files.length) }
      }
    } catch (e) {
      predictError.value = (e as Error).message
    } finally {
      predicting.value = false
    }
  }

  /** Empties the list (and frees the photos' previews). */
  function clear(): void {
    for (const p of predictions.value) if (p.preview.startsWith('blob:')) URL.revokeObjectURL(p.preview)
    predictions.value = []
    predictError.value = null
    folder.value = null
  }

  // In the order the photos were given (ids count up), whatever order the cards show.
  const csv = computed(() =>
    predictionsCsv([...predictions.value].sort((a, b) => a.id - b.id).map((p) => ({ file: p.name, model: p.model, result: p.result })))
  )

  return { predictions, predicting, predictError, models, predictModel, folder, csv, choose, offerModel, loadModels, classify, classifyFolder, clear }
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
