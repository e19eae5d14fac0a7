// The renderer's only door to the rest of the app: a typed client of the engine protocol.
import { contextBridge, ipcRenderer } from 'electron'
import type { EngineCommand, EngineEvent } from '../shared/protocol'
import type { StudioClient } from './client'

const client: StudioClient = {
  request: (command: EngineCommand) => ipcRenderer.invoke('engine:request', command),
  onEvent: (listener: (event: EngineEvent) => void) => {
    const handler = (_: Electron.IpcRendererEvent, event: EngineEvent): void => listener(event)
    ipcRenderer.on('engine:event', handler)
    return () => void ipcRenderer.off('engine:event', handler)
  }
}

contextBridge.exposeInMainWorld('studio', client)
