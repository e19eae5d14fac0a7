// The renderer's only door to the rest of the app: a typed client of the engine protocol.
import { contextBridge, ipcRenderer } from 'electron'
import type { EngineCommandInput, EngineEvent } from '../shared/protocol'
import type { StudioClient } from './client'

const client: StudioClient = {
  request: (command: EngineCommandInput) => ipcRenderer.invoke('engine:request', command),
  onEvent: (listener: (event: EngineEvent) => void) => {
    const handler = (_: Electron.IpcRendererEvent, event: EngineEvent): void => listener(event)
    ipcRenderer.on('engine:event', handler)
    return () => void ipcRenderer.off('engine:event', handler)
  },
  chooseFolder: () => ipcRenderer.invoke('dialog:choose-folder')
}

contextBridge.exposeInMainWorld('studio', client)
