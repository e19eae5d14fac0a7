// Mirrors what the engine says about itself: the backend in use and the backbones on offer.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { BackboneInfo, BackendInfo } from '../../../shared/protocol'

export const useEngineStore = defineStore('engine', () => {
  const backend = ref<BackendInfo | null>(null)
  const backbones = ref<BackboneInfo[]>([])
  const error = ref<string | null>(null)

  async function refresh(): Promise<void> {
    try {
      backend.value = (await window.studio.request({ command: 'info' })) as BackendInfo
      backbones.value = (await window.studio.request({ command: 'listBackbones' })) as BackboneInfo[]
      error.value = null
    } catch (e) {
      error.value = (e as Error).message
    }
  }

  return { backend, backbones, error, refresh }
})
