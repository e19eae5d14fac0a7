// The model being set up: backbone, head, and which layers train. The engine builds it and
// answers with the layer tree; toggles change the frozen set here and the totals follow at once.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { HeadConfig, type DownloadProgress, type FreezeSpec, type ModelSummary } from '../../../shared/protocol'
import { client } from '../client'

export const useModelStore = defineStore('model', () => {
  const backbone = ref('mobilenet_v1_0.25_224')
  const head = ref<HeadConfig>(HeadConfig.parse({}))
  const summary = ref<ModelSummary | null>(null)
  /** Names of layers that do not train. */
  const frozen = ref(new Set<string>())
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** A saved model (an imported Keras model) training continues from, in place of the backbone and a new head. */
  const startFrom = ref<string | null>(null)
  /** The backbone's weights arriving (the first time it is used). */
  const download = ref<DownloadProgress | null>(null)
  client.onEvent((event) => {
    if (event.event === 'download' && loading.value && event.progress.backbone === backbone.value) download.value = event.progress
  })

  const layers = computed(() => summary.value?.blocks.flatMap((b) => b.layers) ?? [])
  const backboneLayers = computed(() => summary.value?.blocks.filter((b) => b.part === 'backbone').flatMap((b) => b.layers) ?? [])

  const totals = computed(() => {
    let total = 0
    let trainable = 0
    for (const layer of layers.value) {
      total += layer.parameters
      if (!frozen.value.has(layer.name)) trainable += layer.trainableParameters
    }
    return { total, trainable, nonTrainable: total - trainable }
  })

  const freezeSpec = computed<FreezeSpec>(() => ({ kind: 'layers', frozen: [...frozen.value] }))

  /** The latest load: an earlier one answering later (a slow backbone picked before) must not overwrite it. */
  let latest = 0
  async function load(classes = 2): Promise<void> {
    const mine = ++latest
    loading.value = true
    error.value = null
    try {
      const described = await client.request({
        command: 'describeModel',
        backbone: backbone.value,
        head: head.value,
        freeze: { kind: 'all' },
        classes,
        ...(startFrom.value ? { startFrom: startFrom.value } : {})
      })
      if (mine !== latest) return
      summary.value = described
      frozen.value = new Set(layers.value.filter((l) => !l.trainable).map((l) => l.name))
    } catch (e) {
      if (mine === latest) error.value = (e as Error).message
    } finally {
      if (mine === latest) {
        loading.value = false
        download.value = null
      }
    }
  }

  function setTrainable(names: string[], trainable: boolean): void {
    const next = new Set(frozen.value)
    for (const name of names) {
      if (trainable) next.delete(name)
      else next.add(name)
    }
    frozen.value = next
  }

  /** Freeze every backbone layer up to and including `name`, train the rest ("freeze up to here"). */
  function freezeUpTo(name: string): void {
    const names = backboneLayers.value.map((l) => l.name)
    const index = names.indexOf(name)
    frozen.value = new Set(names.slice(0, index + 1))
  }

  return { backbone, head, summary, frozen, loading, error, startFrom, download, layers, totals, freezeSpec, load, setTrainable, freezeUpTo }
})
