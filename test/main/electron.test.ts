// The Electron glue with the electron module replaced by recorders: the window's security
// settings, navigation and pop-up handling, sender checks on IPC, and permission requests.
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { IPC_CHANNELS } from '../../src/shared/ipc-channels'

type Handler = (...args: any[]) => any // eslint-disable-line @typescript-eslint/no-explicit-any
const recorded = {
  windowOptions: null as null | Record<string, unknown>,
  webContentsHandlers: new Map<string, Handler>(),
  windowOpenHandler: null as null | Handler,
  ipc: new Map<string, Handler>(),
  permissionHandler: null as null | Handler,
  permissionCheckHandler: null as null | Handler,
  loaded: [] as string[],
  ready: null as null | (() => void),
  window: null as null | { webContents: { mainFrame: unknown } }
}

vi.mock('electron', () => {
  const webContents = {
    on: (name: string, handler: Handler) => recorded.webContentsHandlers.set(name, handler),
    setWindowOpenHandler: (handler: Handler) => (recorded.windowOpenHandler = handler),
    send: () => {},
    mainFrame: { id: 'main-frame' }
  }
  class BrowserWindow {
    webContents = webContents
    constructor(options: Record<string, unknown>) {
      recorded.windowOptions = options
      recorded.window = this
    }
    once() {}
    loadURL(url: string) {
      recorded.loaded.push(`url ${url}`)
      return Promise.resolve()
    }
    loadFile(file: string) {
      recorded.loaded.push(`file ${file}`)
      return Promise.resolve()
    }
  }
  return {
    app: {
      getPath: () => '/tmp/transfer-studio-test-home',
      isPackaged: false,
      whenReady: () => ({ then: (fn: () => void) => (recorded.ready = fn) }),
      on: () => {},
      quit: () => {}
    },
    BrowserWindow,
    dialog: { showOpenDialog: async () => ({ canceled: true, filePaths: [] }) },
    ipcMain: { handle: (channel: string, handler: Handler) => recorded.ipc.set(channel, handler) },
    protocol: { registerSchemesAsPrivileged: () => {}, handle: () => {} },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (handler: Handler) => (recorded.permissionHandler = handler),
        setPermissionCheckHandler: (handler: Handler) => (recorded.permissionCheckHandler = handler)
      }
    },
    utilityProcess: { fork: () => ({ postMessage: () => {}, on: () => {}, kill: () => {} }) }
  }
})

beforeAll(async () => {
  // Set as a hostile environment would: even unpackaged, a remote page is never loaded.
  process.env.ELECTRON_RENDERER_URL = 'https://attacker.example/'
  await import('../../src/main/index')
  recorded.ready!()
})

describe('Electron window and IPC', () => {
  it('handles exactly the channels of the registry the preload uses', () => {
    expect([...recorded.ipc.keys()].sort()).toEqual([IPC_CHANNELS.chooseFolder, IPC_CHANNELS.engineRequest].sort())
  })

  it('isolates and sandboxes the page, with no Node integration', () => {
    expect(recorded.windowOptions!.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      disableBlinkFeatures: 'Auxclick'
    })
  })

  it('blocks navigation and new windows', () => {
    const event = { preventDefault: vi.fn() }
    recorded.webContentsHandlers.get('will-navigate')!(event, 'https://example.com')
    expect(event.preventDefault).toHaveBeenCalled()
    expect(recorded.windowOpenHandler!({ url: 'https://example.com' })).toEqual({ action: 'deny' })
    expect(recorded.windowOpenHandler!({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' })
  })

  it('denies permission requests and permission checks, but the camera for our own window', () => {
    const ours = recorded.window!.webContents
    const answer = (webContents: unknown, permission: string, details: Record<string, unknown>) => {
      const callback = vi.fn()
      recorded.permissionHandler!(webContents, permission, callback, details)
      return callback.mock.calls[0][0]
    }
    expect(answer({}, 'media', { mediaTypes: ['video'], isMainFrame: true })).toBe(false)
    expect(answer(ours, 'media', { mediaTypes: ['video'], isMainFrame: true })).toBe(true)
    expect(answer(ours, 'media', { mediaTypes: ['video'], isMainFrame: false })).toBe(false)
    expect(answer(ours, 'media', { mediaTypes: ['video', 'audio'], isMainFrame: true })).toBe(false)
    expect(answer(ours, 'media', { mediaTypes: [], isMainFrame: true })).toBe(false)
    expect(answer(ours, 'notifications', { isMainFrame: true })).toBe(false)
    for (const permission of ['media', 'notifications', 'clipboard-read', 'geolocation']) {
      expect(recorded.permissionCheckHandler!({}, permission, 'file://', { isMainFrame: true, mediaType: 'video' })).toBe(false)
      expect(recorded.permissionCheckHandler!(ours, permission, 'file://', { isMainFrame: true, mediaType: 'audio' })).toBe(false)
    }
    expect(recorded.permissionCheckHandler!(ours, 'media', 'file://', { isMainFrame: true, mediaType: 'video' })).toBe(true)
  })

  it('loads the built files when ELECTRON_RENDERER_URL is not a local dev server', () => {
    expect(recorded.loaded).toHaveLength(1)
    expect(recorded.loaded[0]).toMatch(/^file .*renderer\/index\.html$/)
  })

  it('refuses IPC from other senders or frames, and malformed commands from ours', async () => {
    const handler = recorded.ipc.get(IPC_CHANNELS.engineRequest)!
    const stranger = { sender: { id: 'other' }, senderFrame: {} }
    await expect(handler(stranger, { command: 'info' })).rejects.toThrow('Refused a request from an unknown sender.')
    const webContents = recorded.window!.webContents
    const subframe = { sender: webContents, senderFrame: { id: 'iframe' } }
    await expect(handler(subframe, { command: 'info' })).rejects.toThrow('Refused a request from an unknown sender.')
    const ours = { sender: webContents, senderFrame: webContents.mainFrame }
    await expect(handler(ours, { command: 'scan', dir: 5 })).rejects.toThrow(/^Refused a malformed command: dir: /)
    await expect(handler(ours, { command: 'listImages', dir: '/etc', split: 'train', label: 'x', offset: 0, limit: 1 })).rejects.toThrow(
      'Refused: /etc is outside the folders you opened'
    )
  })
})

describe('Content-Security-Policy', () => {
  it('allows only the app itself: no remote scripts, no plugins, no inline scripts', async () => {
    const fs = await import('node:fs')
    const html = fs.readFileSync(new URL('../../src/renderer/index.html', import.meta.url), 'utf8')
    const csp = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)![1]
    const directives = Object.fromEntries(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([k, ...v]) => [k, v])
    )
    expect(directives['default-src']).toEqual(["'self'"])
    expect(directives['script-src']).toEqual(["'self'"])
    expect(directives['object-src']).toEqual(["'none'"])
    expect(directives['connect-src']).toEqual(["'self'"])
  })
})

describe('ELECTRON_RENDERER_URL', () => {
  it('is a dev server only in an unpackaged build, and only plain http on this machine', async () => {
    const { devRendererUrl } = await import('../../src/main/dev-renderer')
    expect(devRendererUrl('http://localhost:5173', false)).toBe('http://localhost:5173/')
    expect(devRendererUrl('http://127.0.0.1:5173/', false)).toBe('http://127.0.0.1:5173/')
    expect(devRendererUrl('http://[::1]:5173/', false)).toBe('http://[::1]:5173/')
    expect(devRendererUrl('http://localhost:5173', true)).toBeNull()
    expect(devRendererUrl(undefined, false)).toBeNull()
    for (const hostile of [
      'https://localhost:5173',
      'http://attacker.example:5173',
      'http://localhost.attacker.example/',
      'http://localhost@attacker.example/',
      'http://user:pass@localhost:5173/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url'
    ]) {
      expect([hostile, devRendererUrl(hostile, false)]).toEqual([hostile, null])
    }
  })
})
