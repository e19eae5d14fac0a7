// The one way the renderer talks to the engine, whichever host it runs in: Electron's preload
// (window.studio) or, in a browser, the headless server's WebSocket with its token.
import type { EngineEvent } from '../../shared/protocol'
import type { CommandInputOf, CommandName, CommandResult } from '../../shared/results'
import type { HostCommandName, HostCommandOf, HostCommandResult } from '../../shared/host-commands'
import type { SessionCommandName, SessionCommandOf, SessionCommandResult, SessionEvent } from '../../shared/session'

/** What a host sends unasked: the engine's events and its own session events. */
export type StudioEvent = EngineEvent | SessionEvent

/**
 * Sends one command; answers with that command's result type: the engine's (src/shared/results.ts)
 * or one the host answers itself (session.ts: the session; host-commands.ts: the folder browser and
 * recent datasets), all over the same channel.
 */
interface Request {
  <C extends SessionCommandName>(command: SessionCommandOf<C>): Promise<SessionCommandResult<C>>
  <C extends HostCommandName>(command: HostCommandOf<C>): Promise<HostCommandResult<C>>
  // Last, so a mock of `request` (vi.mocked takes the last signature) has the engine's.
  <C extends CommandName>(command: CommandInputOf<C>): Promise<CommandResult<C>>
}

export interface Client {
  request: Request
  onEvent(listener: (event: StudioEvent) => void): () => void
  /**
   * Called when the connection to the host is made again after it was lost (the browser host was
   * restarted, the network dropped): events sent meanwhile were missed, so the session is asked again.
   */
  onReconnect(listener: () => void): () => void
  /** URL of a thumbnail the host makes for an image in an opened folder. */
  thumbnailUrl(file: string, size: number): string
  /** 'electron' or 'browser': a native folder dialog exists only in the first. */
  readonly host: 'electron' | 'browser'
  chooseFolder?: () => Promise<string | null>
}

function browserClient(): Client {
  const token = new URLSearchParams(location.search).get('token') ?? ''
  const listeners = new Set<(event: StudioEvent) => void>()
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const reconnectListeners = new Set<() => void>()
  let nextId = 1
  let socket: Promise<WebSocket> | null = null
  let retry = 1000

  // A lost connection is made again by itself (with a growing pause), so live events keep coming.
  const reconnect = (): void => {
    setTimeout(() => {
      if (socket) return
      socket = connect()
      socket.then(
        () => {
          retry = 1000
          for (const listener of reconnectListeners) listener()
        },
        () => {
          socket = null
          retry = Math.min(retry * 2, 15_000)
          reconnect()
        }
      )
    }, retry)
  }

  const connect = (): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const protocol = location.protocol === 'https:' ? 'wss' : 'ws'
      const ws = new WebSocket(`${protocol}://${location.host}/ws?token=${encodeURIComponent(token)}`)
      let opened = false
      ws.onopen = () => {
        opened = true
        resolve(ws)
      }
      ws.onerror = () => reject(new Error('Cannot reach the Transfer Studio server: is it running, and is the token in the address?'))
      ws.onclose = () => {
        socket = null
        for (const { reject: fail } of pending.values()) fail(new Error('The connection to the server closed'))
        pending.clear()
        if (opened && listeners.size > 0) reconnect()
      }
      ws.onmessage = (message) => {
        const data = JSON.parse(String(message.data))
        if ('event' in data) {
          for (const listener of listeners) listener(data as StudioEvent)
          return
        }
        const waiting = pending.get(data.id)
        pending.delete(data.id)
        if (data.ok) waiting?.resolve(data.result)
        else waiting?.reject(new Error(data.error))
      }
    })

  const send = async (body: unknown): Promise<unknown> => {
    socket ??= connect()
    const ws = await socket
    const id = nextId++
    return new Promise<unknown>((resolve, reject) => {
      pending.set(id, { resolve, reject })
      ws.send(JSON.stringify({ id, body }))
    })
  }

  return {
    host: 'browser',
    request: send as Request,
    onEvent(listener) {
      listeners.add(listener)
      // Events come only on an open connection: listening is a reason to open one.
      socket ??= connect()
      socket.catch(() => {})
      return () => listeners.delete(listener)
    },
    onReconnect(listener) {
      reconnectListeners.add(listener)
      return () => reconnectListeners.delete(listener)
    },
    thumbnailUrl: (file, size) => `/api/thumb?token=${encodeURIComponent(token)}&size=${size}&path=${encodeURIComponent(file)}`
  }
}

function electronClient(): Client {
  const studio = window.studio
  return {
    host: 'electron',
    // The main process tells host and session commands apart by name (src/host/host-requests.ts, session-state.ts).
    request: ((command: Parameters<typeof studio.request>[0]) => studio.request(command)) as Request,
    onEvent: (listener) => studio.onEvent(listener),
    // IPC to the main process is never lost while the window lives.
    onReconnect: () => () => {},
    thumbnailUrl: (file, size) => `studio-thumb://image/?size=${size}&path=${encodeURIComponent(file)}`,
    chooseFolder: () => studio.chooseFolder()
  }
}

export const client: Client = typeof window !== 'undefined' && 'studio' in window ? electronClient() : browserClient()
