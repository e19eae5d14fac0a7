// The one way the renderer talks to the engine, whichever host it runs in: Electron's preload
// (window.studio) or, in a browser, the headless server's WebSocket with its token.
import type { EngineEvent } from '../../shared/protocol'
import type { CommandInputOf, CommandName, CommandResult } from '../../shared/results'
import type { HostCommandName, HostCommandOf, HostCommandResult } from '../../shared/host-commands'

export interface Client {
  /** Sends one command; answers with that command's result type (src/shared/results.ts). */
  request<C extends CommandName>(command: CommandInputOf<C>): Promise<CommandResult<C>>
  /** A command the host answers itself (folder browser, recent datasets), over the same channel. */
  hostRequest<C extends HostCommandName>(command: HostCommandOf<C>): Promise<HostCommandResult<C>>
  onEvent(listener: (event: EngineEvent) => void): () => void
  /** URL of a thumbnail the host makes for an image in an opened folder. */
  thumbnailUrl(file: string, size: number): string
  /** 'electron' or 'browser': a native folder dialog exists only in the first. */
  readonly host: 'electron' | 'browser'
  chooseFolder?: () => Promise<string | null>
}

function browserClient(): Client {
  const token = new URLSearchParams(location.search).get('token') ?? ''
  const listeners = new Set<(event: EngineEvent) => void>()
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let nextId = 1
  let socket: Promise<WebSocket> | null = null

  const connect = (): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const protocol = location.protocol === 'https:' ? 'wss' : 'ws'
      const ws = new WebSocket(`${protocol}://${location.host}/ws?token=${encodeURIComponent(token)}`)
      ws.onopen = () => resolve(ws)
      ws.onerror = () => reject(new Error('Cannot reach the Transfer Studio server: is it running, and is the token in the address?'))
      ws.onclose = () => {
        socket = null
        for (const { reject: fail } of pending.values()) fail(new Error('The connection to the server closed'))
        pending.clear()
      }
      ws.onmessage = (message) => {
        const data = JSON.parse(String(message.data))
        if ('event' in data) {
          for (const listener of listeners) listener(data as EngineEvent)
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
    request: <C extends CommandName>(command: CommandInputOf<C>) => send(command) as Promise<CommandResult<C>>,
    hostRequest: <C extends HostCommandName>(command: HostCommandOf<C>) => send(command) as Promise<HostCommandResult<C>>,
    onEvent(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    thumbnailUrl: (file, size) => `/api/thumb?token=${encodeURIComponent(token)}&size=${size}&path=${encodeURIComponent(file)}`
  }
}

function electronClient(): Client {
  const studio = window.studio
  return {
    host: 'electron',
    request: <C extends CommandName>(command: CommandInputOf<C>) => studio.request(command) as Promise<CommandResult<C>>,
    // The main process tells host commands apart by name (src/host/host-requests.ts).
    hostRequest: <C extends HostCommandName>(command: HostCommandOf<C>) => studio.request(command as never) as Promise<HostCommandResult<C>>,
    onEvent: (listener) => studio.onEvent(listener),
    thumbnailUrl: (file, size) => `studio-thumb://image/?size=${size}&path=${encodeURIComponent(file)}`,
    chooseFolder: () => studio.chooseFolder()
  }
}

export const client: Client = typeof window !== 'undefined' && 'studio' in window ? electronClient() : browserClient()
