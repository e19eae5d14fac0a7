// What the engine says about itself (backend, backbones) and whether it had to be restarted.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { BackboneInfo, BackendInfo } from '../../../shared/protocol'
import { client } from '../client'

export const useEngineStore = defineStore('engine', () => {
  const backend = ref<BackendInfo | null>(null)
  const backbones = ref<BackboneInfo[]>([])
  const error = ref<string | null>(null)
  const notice = ref<string | null>(null)

  client.onEvent((event) => {
    if (event.event === 'engine-restarted') notice.value = event.message
  })

  async function refresh(): Promise<void> {
    try {
      backend.value = await client.request({ command: 'info' })
      backbones.value = await client.request({ command: 'listBackbones' })
      error.value = null
    } catch (e) {
      error.value = (e as Error).message
    }
  }

  return { backend, backbones, error, notice, refresh }
})
