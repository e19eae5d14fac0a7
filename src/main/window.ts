// The one application window, with Electron's security checklist applied: isolated, sandboxed,
// no Node in the page, no navigation away, no new windows. The options are literal here (not
// spread from elsewhere) so a static scanner such as electronegativity can check them.
import { BrowserWindow } from 'electron'
import path from 'node:path'

export function createMainWindow(preload: string, rendererUrl: string | undefined, rendererFile: string, icon?: string): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 840,
    minWidth: 900,
    minHeight: 600,
    title: 'Transfer Studio',
    // Linux window managers take the window's icon from here (a packaged app also has its .desktop icon).
    icon,
    show: false,
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      // Middle-click could open a link in a new window, around the window-open handler.
      disableBlinkFeatures: 'Auxclick'
    }
  })
  window.once('ready-to-show', () => window.show())
  window.webContents.on('will-navigate', (event) => event.preventDefault())
  // The app has no links to follow: every new window is refused.
  window.webContents.setWindowOpenHandler(() => ({ action: 'deny' }))
  // Only the dev server (electron-vite dev; checked by devRendererUrl) or the packaged files: never remote content.
  if (rendererUrl) void window.loadURL(rendererUrl)
  else void window.loadFile(path.resolve(rendererFile))
  return window
}
