// Downloads in progress (backbone weights, the sample dataset), from the engine's events, for the
// one progress strip every view shows. A finished one stays a moment so its "done" can be read.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { DownloadProgress } from '../../../shared/protocol'
import { client } from '../client'

const SHOW_DONE_MS = 4000

export const useDownloadsStore = defineStore('downloads', () => {
  const byId = ref<Record<string, DownloadProgress>>({})
  const timers = new Map<string, ReturnType<typeof setTimeout>>()

  function clear(id: string): void {
    clearTimeout(timers.get(id))
    timers.delete(id)
    const { [id]: _gone, ...rest } = byId.value
    byId.value = rest
  }

  client.onEvent((event) => {
    if (event.event !== 'download') return
    const id = event.progress.backbone
    byId.value = { ...byId.value, [id]: event.progress }
    clearTimeout(timers.get(id))
    if (event.progress.done)
      timers.set(
        id,
        setTimeout(() => clear(id), SHOW_DONE_MS)
      )
  })

  const active = computed(() => Object.values(byId.value))
  return { byId, active, clear }
})
