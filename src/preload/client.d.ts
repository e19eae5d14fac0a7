import type { EngineCommand, EngineEvent } from '../shared/protocol'

/** What the renderer can call, whichever host it runs in. */
export interface StudioClient {
  request(command: EngineCommand): Promise<unknown>
  /** Returns a function that stops listening. */
  onEvent(listener: (event: EngineEvent) => void): () => void
}

declare global {
  interface Window {
    studio: StudioClient
  }
}
