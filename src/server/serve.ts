// The headless host: serves the built renderer and the engine protocol over WebSocket, on
// loopback by default, behind a token printed once (like a notebook server). Train on a machine
// with a GPU, watch from a laptop; and how the UI is tested end to end here.
import { fork } from 'node:child_process'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import type { EngineEvent } from '../shared/protocol'
import { admit, AllowedFolders } from './allowed'
import { EngineConnection, type EngineChild } from './engine-connection'
import { thumbnail, THUMBNAIL_SIZES } from './thumbnails'

export interface ServeOptions {
  host: string
  port: number
  /** The built renderer (out/renderer). */
  rendererDir: string
  /** How to start the engine process. */
  engine: { entry: string; execArgv: string[] }
  home: string
  token?: string
}

export interface RunningServer {
  url: string
  token: string
  port: number
  close(): Promise<void>
}

/** Largest WebSocket message: a batch of dropped photos, base64. */
const MAX_MESSAGE_BYTES = 80 * 1024 * 1024

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json'
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  await fs.access(path.join(options.rendererDir, 'index.html')).catch(() => {
    throw new Error(`The user interface is not built (${path.join(options.rendererDir, 'index.html')} is missing): run npm run build first`)
  })
  const token = options.token ?? randomBytes(24).toString('hex')
  const folders = new AllowedFolders([options.home])
  const clients = new Set<WebSocket>()
  const broadcast = (event: EngineEvent): void => {
    const text = JSON.stringify(event)
    for (const client of clients) client.send(text)
  }
  const engine = new EngineConnection(() => forkEngine(options), broadcast)

  const tokenOk = (given: string | null): boolean => {
    if (!given || given.length !== token.length) return false
    return timingSafeEqual(Buffer.from(given), Buffer.from(token))
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname.startsWith('/api/')) {
      if (!tokenOk(url.searchParams.get('token'))) return void res.writeHead(401).end('A valid token is required.')
      if (url.pathname === '/api/thumb') return void serveThumbnail(url, folders, options.home, res)
      return void res.writeHead(404).end()
    }
    void serveStatic(options.rendererDir, url.pathname, res)
  })

  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES })
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== '/ws' || !tokenOk(url.searchParams.get('token'))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n')
      return
    }
    sockets.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws)
      ws.on('close', () => clients.delete(ws))
      ws.on('message', (data) => void answer(ws, data.toString(), folders, engine))
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, resolve)
  })
  const port = (server.address() as AddressInfo).port
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host
  return {
    url: `http://${shownHost}:${port}/?token=${token}`,
    token,
    port,
    close: async () => {
      engine.stop()
      for (const client of clients) client.terminate()
      sockets.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

async function answer(ws: WebSocket, text: string, folders: AllowedFolders, engine: EngineConnection): Promise<void> {
  let id: unknown = null
  try {
    const message = JSON.parse(text) as { id?: unknown; body?: unknown }
    id = message.id
    if (typeof id !== 'number') throw new Error('Refused a message without a numeric id')
    const body = await admit(message.body, folders)
    ws.send(JSON.stringify({ id, ok: true, result: await engine.request(body) }))
  } catch (error) {
    ws.send(JSON.stringify({ id, ok: false, error: (error as Error).message }))
  }
}

function forkEngine(options: ServeOptions): EngineChild {
  const child = fork(options.engine.entry, [], {
    execArgv: options.engine.execArgv,
    env: { ...process.env, TRANSFER_STUDIO_HOME: options.home },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return {
    send: (message) => child.send(message as object),
    onMessage: (handler) => child.on('message', handler),
    onExit: (handler) => child.on('exit', handler),
    kill: () => child.kill()
  }
}

async function serveThumbnail(url: URL, folders: AllowedFolders, home: string, res: http.ServerResponse): Promise<void> {
  try {
    const file = await folders.check(url.searchParams.get('path') ?? '')
    const wanted = Number(url.searchParams.get('size') ?? 160)
    const size = THUMBNAIL_SIZES.find((s) => s >= wanted) ?? THUMBNAIL_SIZES.at(-1)!
    const data = await thumbnail(file, size, path.join(home, 'cache', 'thumbnails'))
    res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=3600' }).end(data)
  } catch (error) {
    const refused = (error as Error).name === 'PathRefused'
    res.writeHead(refused ? 403 : 415, { 'content-type': 'text/plain; charset=utf-8' }).end((error as Error).message)
  }
}

async function serveStatic(root: string, pathname: string, res: http.ServerResponse): Promise<void> {
  const relative = decodeURIComponent(pathname === '/' ? '/index.html' : pathname)
  const file = path.resolve(root, `.${relative}`)
  if (!file.startsWith(path.resolve(root) + path.sep)) return void res.writeHead(403).end()
  try {
    const data = await fs.readFile(file)
    res.writeHead(200, { 'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(data)
  } catch {
    res.writeHead(404).end('Not found')
  }
}
