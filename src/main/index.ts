// Electron main process: one window, one engine utility process, and the checked IPC between them.
import { app, dialog, ipcMain, protocol, session, utilityProcess, type BrowserWindow, type IpcMainInvokeEvent } from 'electron'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { IPC_CHANNELS } from '../shared/ipc-channels'
import os from 'node:os'
import { AllowedFolders } from '../host/allowed'
import { FolderBrowser } from '../host/folder-browser'
import { handleRequest, type HostServices } from '../host/host-requests'
import { RecentDatasets } from '../host/recent-datasets'
import type { EngineEvent } from '../shared/protocol'
import type { SessionEvent } from '../shared/session'
import { EngineConnection, type EngineChild } from '../host/engine-connection'
import { SessionState } from '../host/session-state'
import { thumbnailRequest } from '../host/thumbnails'
import { engineEnvironment, environment } from '../engine/environment'
import { devRendererUrl } from './dev-renderer'
import { permissionAllowed } from './permissions'
import { createMainWindow } from './window'

const here = path.dirname(fileURLToPath(import.meta.url))
const home = environment.home() ?? app.getPath('userData')
const folders = new AllowedFolders([home])
const places = [
  { label: 'Home', dir: os.homedir() },
  { label: 'Studio folder', dir: home }
]
const services: HostServices = { folders, browser: new FolderBrowser(places, folders, os.homedir()), recents: RecentDatasets.inHome(home), home: os.homedir() }
let window: BrowserWindow | undefined

protocol.registerSchemesAsPrivileged([{ scheme: 'studio-thumb', privileges: { standard: true, secure: true, supportFetchAPI: true } }])

function startEngine(): EngineChild {
  const child = utilityProcess.fork(path.join(here, 'engine.js'), [], {
    env: engineEnvironment(home),
    serviceName: 'Transfer Studio engine'
  })
  return {
    send: (message) => child.postMessage(message),
    onMessage: (handler) => child.on('message', handler),
    onExit: (handler) => child.on('exit', handler),
    kill: () => void child.kill()
  }
}

const send = (event: EngineEvent | SessionEvent): void => {
  if (window && !window.isDestroyed()) window.webContents.send(IPC_CHANNELS.engineEvent, event)
}
// The session lives here, not in the window: a reload, or a window closed and opened again, asks
// it for everything (the open dataset, the choices, the training with its events) and follows on.
const studioSession = new SessionState(home, send)
const engine = new EngineConnection(startEngine, (event) => {
  studioSession.observe(event)
  send(event)
})

/** Only our own window's main frame may talk to the main process. */
export function fromOurWindow(event: IpcMainInvokeEvent, ours: BrowserWindow | undefined): boolean {
  return ours !== undefined && event.sender === ours.webContents && event.senderFrame === ours.webContents.mainFrame
}

const ourMainFrame = (webContents: Electron.WebContents | null, isMainFrame: boolean): boolean =>
  window !== undefined && webContents === window.webContents && isMainFrame

ipcMain.handle(IPC_CHANNELS.engineRequest, async (event, body: unknown) => {
  if (!fromOurWindow(event, window)) throw new Error('Refused a request from an unknown sender.')
  return studioSession.handle(body, (admitted) => handleRequest(admitted, services, (command) => engine.request(command)))
})

ipcMain.handle(IPC_CHANNELS.chooseFolder, async (event) => {
  if (!fromOurWindow(event, window) || !window) throw new Error('Refused a request from an unknown sender.')
  const result = await dialog.showOpenDialog(window, { properties: ['openDirectory'] })
  return result.canceled ? null : result.filePaths[0]
})

app.whenReady().then(() => {
  // Deny every permission but the camera for our own window (permissions.ts). Requests ask; checks
  // are the synchronous queries (such as navigator.permissions) that would otherwise say granted.
  session.defaultSession.setPermissionRequestHandler((webContents, permission, callback, details) =>
    callback(permissionAllowed(permission, (details as { mediaTypes?: string[] }).mediaTypes ?? [], ourMainFrame(webContents, details.isMainFrame)))
  )
  session.defaultSession.setPermissionCheckHandler((webContents, permission, _origin, details) =>
    permissionAllowed(permission, details.mediaType ? [details.mediaType] : [], ourMainFrame(webContents, details.isMainFrame))
  )
  protocol.handle('studio-thumb', async (request) => {
    try {
      const url = new URL(request.url)
      const data = await thumbnailRequest(folders, home, url.searchParams.get('path') ?? '', Number(url.searchParams.get('size') ?? 160))
      return new Response(new Uint8Array(data), { headers: { 'content-type': 'image/jpeg' } })
    } catch (error) {
      return new Response((error as Error).message, { status: 403 })
    }
  })
  const rendererUrl = devRendererUrl(process.env.ELECTRON_RENDERER_URL, app.isPackaged)
  if (process.env.ELECTRON_RENDERER_URL && !rendererUrl) {
    console.warn(
      `Ignored ELECTRON_RENDERER_URL=${process.env.ELECTRON_RENDERER_URL}: only an unpackaged build loads a dev server, and only http on this machine`
    )
  }
  const open = (): void => {
    window = createMainWindow(
      path.join(here, '../preload/index.cjs'),
      rendererUrl ?? undefined,
      path.join(here, '../renderer/index.html'),
      path.join(here, '../../resources/icon.png')
    )
  }
  open()
  // macOS keeps the app when its window closes; clicking the dock icon opens a window on the same session.
  app.on('activate', () => {
    if (!window || window.isDestroyed()) open()
  })
})

app.on('window-all-closed', () => {
  if (process.platform === 'darwin') return
  engine.stop()
  app.quit()
})
