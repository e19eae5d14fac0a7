// The model being set up: backbone, head, and which layers train. The engine builds it and
// answers with the layer tree; toggles change the frozen set here and the totals follow at once.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { HeadConfig, type FreezeSpec, type ModelSummary, type TrainingSpeed } from '../../../shared/protocol'
import { client } from '../client'
import type { TwoPhase } from '../fine-tune'

export const useModelStore = defineStore('model', () => {
  const backbone = ref('mobilenet_v1_0.25_224')
  const head = ref<HeadConfig>(HeadConfig.parse({}))
  const summary = ref<ModelSummary | null>(null)
  /** Names of layers that do not train. */
  const frozen = ref(new Set<string>())
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** How unfrozen BatchNormalization layers train (TrainConfig.batchNormStatistics). */
  const batchNormStatistics = ref<'frozen' | 'train'>('frozen')
  /** Head first, then the unfrozen layers at a lower rate (TrainConfig.twoPhase); null: one phase. */
  const twoPhase = ref<TwoPhase | null>(null)
  /** This machine's training speed, measured once per engine session, for the tree's estimate. */
  const speed = ref<TrainingSpeed | null>(null)
  let measuring: Promise<void> | null = null

  function measureSpeed(): Promise<void> {
    measuring ??= client
      .request({ command: 'measureTrainingSpeed' })
      .then((measured) => void (speed.value = measured))
      .catch((e: Error) => void (speed.value = { flopsPerSecond: null, engine: e.message, method: 'failed' }))
    return measuring
  }
  /** A saved model (an imported Keras model) training continues from, in place of the backbone and a new head. */
  const startFrom = ref<string | null>(null)

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

  /** The backbone the shown tree belongs to: the card and the tree must always name the same model. */
  const summaryBackbone = ref<string | null>(null)
  /** What the tree is built from: the saved model training continues from, else the backbone. */
  const chosen = computed(() => startFrom.value ?? backbone.value)
  // Replies can arrive out of order when the user switches quickly (a big backbone loads slower
  // than a small one): only the answer to the latest request is shown.
  let latest = 0
  /** Whether the tree shown is the chosen backbone's (false while another one loads). */
  const upToDate = computed(() => summary.value !== null && summaryBackbone.value === chosen.value)

  // Toggles made while a tree loads, replayed onto the reply: the reply's frozen set (the model's
  // default, or a remembered one) must not undo a click made after the request left.
  type Edit = { model: string | null; change: (frozen: Set<string>) => void }
  let editsSinceRequest: Edit[] = []

  /**
   * Loads the tree for the chosen model. `remembered` (a reopened dataset, a reload) is the frozen
   * set to start from instead of the model's default, when it was made for that same model.
   */
  async function load(classes = 2, remembered?: { backbone: string; frozen: string[] }): Promise<void> {
    const asked = ++latest
    const wanted = chosen.value
    editsSinceRequest = []
    loading.value = true
    error.value = null
    try {
      const answer = await client.request({
        command: 'describeModel',
        backbone: backbone.value,
        head: head.value,
        freeze: { kind: 'all' },
        classes,
        ...(startFrom.value ? { startFrom: startFrom.value } : {})
      })
      if (asked !== latest) return
      summary.value = answer
      summaryBackbone.value = wanted
      // Only onto the model it was made for: a tree that is another model's by now (a saved model
      // chosen as the starting point meanwhile) keeps its own frozen set.
      const next =
        remembered && remembered.backbone === wanted ? new Set(remembered.frozen) : new Set(layers.value.filter((l) => !l.trainable).map((l) => l.name))
      for (const edit of editsSinceRequest) if (edit.model === wanted) edit.change(next)
      // Names the tree no longer has (a remembered set from an older model version) are dropped.
      const known = new Set(layers.value.map((l) => l.name))
      frozen.value = new Set([...next].filter((name) => known.has(name)))
    } catch (e) {
      if (asked === latest) error.value = (e as Error).message
    } finally {
      if (asked === latest) {
        loading.value = false
        editsSinceRequest = []
      }
    }
  }

  /**
   * Takes remembered choices (a reopened dataset, a reload): the backbone and head, then the tree
   * built for them, then the frozen set as it was (names the tree no longer has are dropped).
   */
  async function apply(choices: { backbone: string; head: HeadConfig; frozen: string[] | null } | null, classes: number): Promise<void> {
    if (choices) {
      backbone.value = choices.backbone
      head.value = structuredClone(choices.head)
    }
    await load(classes, choices?.frozen ? { backbone: choices.backbone, frozen: choices.frozen } : undefined)
  }

  function edit(change: (frozen: Set<string>) => void): void {
    const next = new Set(frozen.value)
    change(next)
    frozen.value = next
    if (loading.value) editsSinceRequest.push({ model: summaryBackbone.value, change })
  }

  function setTrainable(names: string[], trainable: boolean): void {
    edit((set) => {
      for (const name of names) {
        if (trainable) set.delete(name)
        else set.add(name)
      }
    })
  }

  /** Freeze every backbone layer up to and including `name`, train the rest ("freeze up to here"). */
  function freezeUpTo(name: string): void {
    edit((set) => {
      const names = backboneLayers.value.map((l) => l.name)
      set.clear()
      for (const frozenName of names.slice(0, names.indexOf(name) + 1)) set.add(frozenName)
    })
  }

  return {
    backbone,
    head,
    summary,
    summaryBackbone,
    upToDate,
    frozen,
    loading,
    error,
    startFrom,
    layers,
    totals,
    freezeSpec,
    load,
    apply,
    setTrainable,
    freezeUpTo,
    batchNormStatistics,
    twoPhase,
    speed,
    measureSpeed
  }
})
