// Electron main process: one window, one engine process, and the checked IPC between them.
import { app, BrowserWindow, ipcMain, type IpcMainInvokeEvent } from 'electron'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeSchemaError, EngineCommand } from '../shared/protocol'
import { EngineHost } from './engine-host'
import { createMainWindow } from './window'

const here = path.dirname(fileURLToPath(import.meta.url))
let window: BrowserWindow | undefined

const engine = new EngineHost(
  path.join(here, 'engine.js'),
  { ...process.env, TRANSFER_STUDIO_HOME: process.env.TRANSFER_STUDIO_HOME ?? app.getPath('userData') },
  (event) => window?.webContents.send('engine:event', event),
  (message) => window?.webContents.send('engine:crashed', message)
)

/** Only our own window's main frame may talk to the engine. */
function fromOurWindow(event: IpcMainInvokeEvent): boolean {
  return window !== undefined && event.sender === window.webContents && event.senderFrame === window.webContents.mainFrame
}

ipcMain.handle('engine:request', async (event, body: unknown) => {
  if (!fromOurWindow(event)) throw new Error('Refused a request from an unknown sender.')
  const command = EngineCommand.safeParse(body)
  if (!command.success) throw new Error(`Refused a malformed command: ${describeSchemaError(command.error)}`)
  return engine.request(command.data)
})

app.whenReady().then(() => {
  window = createMainWindow(path.join(here, '../preload/index.cjs'), process.env.ELECTRON_RENDERER_URL, path.join(here, '../renderer/index.html'))
})

app.on('window-all-closed', () => {
  engine.stop()
  app.quit()
})
