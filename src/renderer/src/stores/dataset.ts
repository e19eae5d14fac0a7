// The dataset the user opened: its scan report and the images of the class being browsed.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { datasetWarnings } from '../../../shared/dataset-warnings'
import type { DatasetReport, Exclusions, SplitName } from '../../../shared/protocol'
import { client } from '../client'

export const useDatasetStore = defineStore('dataset', () => {
  const dir = ref('')
  const report = ref<DatasetReport | null>(null)
  const scanning = ref(false)
  const progress = ref({ filesSeen: 0, imagesFound: 0 })
  const error = ref<string | null>(null)
  const split = ref<SplitName>('train')
  const label = ref<string | null>(null)
  const images = ref<string[]>([])
  const imageCount = ref(0)
  /** What the user left out of training in answer to the scan's warnings (sent as TrainConfig.exclude). */
  const excludedFiles = ref<string[]>([])
  const excludedClasses = ref<string[]>([])
  /** Validate on the test split (then it no longer measures unseen images). */
  const valOnTest = ref(false)

  const exclusions = computed<Exclusions>(() => ({ files: excludedFiles.value, classes: excludedClasses.value }))
  /** The scan's warnings the exclusions leave standing, each with what training will do. */
  const warnings = computed(() => (report.value ? datasetWarnings(report.value, exclusions.value) : []))
  /** The test split's folder, when the dataset has one that can stand in for validation. */
  const testFolder = computed(() => (report.value?.layout === 'splits' ? (report.value.splits.find((s) => s.name === 'test')?.source ?? null) : null))

  function toggle(list: typeof excludedFiles, item: string): void {
    list.value = list.value.includes(item) ? list.value.filter((x) => x !== item) : [...list.value, item]
  }
  const toggleFile = (file: string): void => toggle(excludedFiles, file)
  const toggleClass = (name: string): void => toggle(excludedClasses, name)

  client.onEvent((event) => {
    if (event.event === 'scan') progress.value = event.progress
  })

  const classTotals = computed(() => {
    const r = report.value
    if (!r) return []
    const totals = r.classes.map((c) => ({ label: c, count: r.splits.reduce((sum, s) => sum + (s.counts[c] ?? 0), 0) }))
    const max = Math.max(1, ...totals.map((t) => t.count))
    return totals.map((t) => ({ ...t, share: t.count / max }))
  })

  async function open(path: string): Promise<void> {
    dir.value = path.trim()
    if (!dir.value) return
    scanning.value = true
    error.value = null
    progress.value = { filesSeen: 0, imagesFound: 0 }
    excludedFiles.value = []
    excludedClasses.value = []
    valOnTest.value = false
    try {
      report.value = await client.request({ command: 'scan', dir: dir.value })
      dir.value = report.value.root
      await browse('train', report.value.classes[0])
    } catch (e) {
      error.value = (e as Error).message
      report.value = null
    } finally {
      scanning.value = false
    }
  }

  /** The dataset the host has open (a reload, a second window): shown without scanning it again. */
  async function hydrate(open: { dir: string; report: DatasetReport } | null): Promise<void> {
    // A dataset this window is opening (or has open) is the user's latest word.
    if (!open || scanning.value || report.value) return
    dir.value = open.dir
    report.value = open.report
    error.value = null
    if (open.report.classes.length) await browse(split.value, label.value && open.report.classes.includes(label.value) ? label.value : open.report.classes[0])
  }

  async function browse(which: SplitName, name: string): Promise<void> {
    split.value = which
    label.value = name
    const page = await client.request({ command: 'listImages', dir: dir.value, split: which, label: name, offset: 0, limit: 100_000 })
    images.value = page.files
    imageCount.value = page.total
  }

  return {
    dir,
    report,
    scanning,
    progress,
    error,
    split,
    label,
    images,
    imageCount,
    classTotals,
    excludedFiles,
    excludedClasses,
    exclusions,
    warnings,
    valOnTest,
    testFolder,
    toggleFile,
    toggleClass,
    open,
    browse,
    hydrate
  }
})
