import type { EngineCommandInput, EngineEvent } from '../shared/protocol'
import type { HostCommand } from '../shared/host-commands'
import type { SessionCommand, SessionEvent } from '../shared/session'

/** What the preload exposes to the renderer as window.studio. */
export interface StudioClient {
  request(command: EngineCommandInput | HostCommand | SessionCommand): Promise<unknown>
  /** Returns a function that stops listening. */
  onEvent(listener: (event: EngineEvent | SessionEvent) => void): () => void
  /** The native folder dialog; null when cancelled. */
  chooseFolder(): Promise<string | null>
}

declare global {
  interface Window {
    studio: StudioClient
  }
}
