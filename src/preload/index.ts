// The renderer's only door to the rest of the app: a typed client of the engine protocol.
import { contextBridge, ipcRenderer } from 'electron'
import { IPC_CHANNELS } from '../shared/ipc-channels'
import type { EngineCommandInput, EngineEvent } from '../shared/protocol'
import type { HostCommand } from '../shared/host-commands'
import type { SessionCommand, SessionEvent } from '../shared/session'
import type { StudioClient } from './client'

const client: StudioClient = {
  request: (command: EngineCommandInput | HostCommand | SessionCommand) => ipcRenderer.invoke(IPC_CHANNELS.engineRequest, command),
  onEvent: (listener: (event: EngineEvent | SessionEvent) => void) => {
    const handler = (_: Electron.IpcRendererEvent, event: EngineEvent | SessionEvent): void => listener(event)
    ipcRenderer.on(IPC_CHANNELS.engineEvent, handler)
    return () => void ipcRenderer.off(IPC_CHANNELS.engineEvent, handler)
  },
  chooseFolder: () => ipcRenderer.invoke(IPC_CHANNELS.chooseFolder)
}

contextBridge.exposeInMainWorld('studio', client)
