// The one application window, with Electron's security checklist applied: isolated, sandboxed,
// no Node in the page, no navigation away, no new windows.
import { BrowserWindow, shell } from 'electron'
import path from 'node:path'

export const WINDOW_PREFERENCES: Electron.WebPreferences = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
  webSecurity: true,
  allowRunningInsecureContent: false
}

export function createMainWindow(preload: string, rendererUrl: string | undefined, rendererFile: string): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 840,
    minWidth: 900,
    minHeight: 600,
    title: 'Transfer Studio',
    show: false,
    webPreferences: { ...WINDOW_PREFERENCES, preload }
  })
  window.once('ready-to-show', () => window.show())
  window.webContents.on('will-navigate', (event) => event.preventDefault())
  window.webContents.setWindowOpenHandler(({ url }) => {
    // Links to documentation open in the user's browser, never inside the app.
    if (url.startsWith('https://')) void shell.openExternal(url)
    return { action: 'deny' }
  })
  if (rendererUrl) void window.loadURL(rendererUrl)
  else void window.loadFile(path.resolve(rendererFile))
  return window
}
