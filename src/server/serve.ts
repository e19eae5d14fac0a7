// The headless host: serves the built renderer and the engine protocol over WebSocket, on
// loopback by default, behind a token printed once (like a notebook server). Train on a machine
// with a GPU, watch from a laptop; and how the UI is tested end to end here.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import path from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import type { EngineEvent } from '../shared/protocol'
import os from 'node:os'
import { AllowedFolders } from '../host/allowed'
import { FolderBrowser } from '../host/folder-browser'
import { handleRequest, type HostServices } from '../host/host-requests'
import { RecentDatasets } from '../host/recent-datasets'
import type { SessionEvent } from '../shared/session'
import { forkEngine } from '../host/engine-child'
import { EngineConnection } from '../host/engine-connection'
import { SessionState } from '../host/session-state'
import { allowedHostnames, hostAllowed, originAllowed, tokenMatches } from './request-guards'
import { staticFiles } from './static-files'
import { thumbnailRequest } from '../host/thumbnails'

export interface ServeOptions {
  host: string
  port: number
  /** The built renderer (out/renderer). */
  rendererDir: string
  /** How to start the engine process. */
  engine: { entry: string; execArgv: string[] }
  home: string
  token?: string
  /** More folders the folder browser may show, besides the home folder, the studio's folder and opened ones. */
  browse?: string[]
  /** The user's home folder (`~`, and where the folder browser starts); os.homedir() by default. */
  userHome?: string
}

export interface RunningServer {
  url: string
  token: string
  port: number
  close(): Promise<void>
}

/** Largest WebSocket message: one dropped photo (base64) or a few small ones, with room to spare. */
const MAX_MESSAGE_BYTES = 80 * 1024 * 1024

/** On every HTTP answer: no sniffing, no framing, and no Referer carrying the token in its URL. */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'referrer-policy': 'no-referrer'
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  await fs.access(path.join(options.rendererDir, 'index.html')).catch(() => {
    throw new Error(`The user interface is not built (${path.join(options.rendererDir, 'index.html')} is missing): run npm run build first`)
  })
  const token = options.token ?? randomBytes(24).toString('hex')
  const folders = new AllowedFolders([options.home])
  const userHome = options.userHome ?? os.homedir()
  const places = [
    { label: 'Home', dir: userHome },
    { label: 'Studio folder', dir: options.home },
    ...(options.browse ?? []).map((dir) => ({ label: path.basename(path.resolve(dir)) || dir, dir: path.resolve(dir) }))
  ]
  const services: HostServices = {
    folders,
    browser: new FolderBrowser(places, folders, userHome),
    recents: RecentDatasets.inHome(options.home),
    home: userHome
  }
  const clients = new Set<WebSocket>()
  const broadcast = (event: EngineEvent | SessionEvent): void => {
    const text = JSON.stringify(event)
    for (const client of clients) client.send(text)
  }
  // The session outlives any page: a reload or a second tab asks it for everything and follows on.
  const session = new SessionState(options.home, broadcast)
  const engine = new EngineConnection(
    () => forkEngine(options.engine, options.home),
    (event) => {
      session.observe(event)
      broadcast(event)
    }
  )

  const tokenOk = (given: string | null): boolean => tokenMatches(given, token)
  const hostnames = allowedHostnames(options.host)
  let port = options.port
  const hostOk = (req: http.IncomingMessage): boolean => hostAllowed(req.headers.host, hostnames, port)
  const serveStatic = staticFiles(options.rendererDir)

  const route = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value)
    if (!hostOk(req)) return void res.writeHead(403).end('This server answers only to its own address (such as 127.0.0.1).')
    const url = requestUrl(req)
    if (!url) return void res.writeHead(400).end('Bad request address.')
    if (url.pathname.startsWith('/api/')) {
      if (!tokenOk(url.searchParams.get('token'))) return void res.writeHead(401).end('A valid token is required.')
      if (url.pathname === '/api/thumb') return void serveThumbnail(url, folders, options.home, res)
      return void res.writeHead(404).end()
    }
    serveStatic(req, res)
  }
  const server = http.createServer((req, res) => {
    try {
      route(req, res)
    } catch {
      // No request, however malformed, may end the process and every run in it.
      if (!res.headersSent) res.writeHead(400)
      res.end()
    }
  })

  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES })
  server.on('upgrade', (req, socket: Socket, head) => {
    // The peer may reset the connection before our answer is written: that error is theirs to have.
    socket.on('error', () => socket.destroy())
    const url = requestUrl(req)
    const refusal =
      !hostOk(req) || !originAllowed(req.headers.origin, req.headers.host)
        ? '403 Forbidden'
        : url?.pathname !== '/ws' || !tokenOk(url.searchParams.get('token'))
          ? '401 Unauthorized'
          : null
    if (refusal) return void socket.end(`HTTP/1.1 ${refusal}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    sockets.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws)
      // Protocol errors (an oversized frame, bad UTF-8, an unknown opcode): ws has already sent the
      // close code and drops the connection; without a listener the error would end the process.
      ws.on('error', () => clients.delete(ws))
      ws.on('close', () => clients.delete(ws))
      ws.on('message', (data) => void answer(ws, data.toString(), services, engine, session))
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      engine.stop()
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `Port ${options.port} on ${options.host} is already in use (another Transfer Studio, or another program): serve on another with --port <n>, or --port 0 for any free one`
            )
          : error
      )
    })
    server.listen(options.port, options.host, resolve)
  })
  port = (server.address() as AddressInfo).port
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

async function answer(ws: WebSocket, text: string, services: HostServices, engine: EngineConnection, session: SessionState): Promise<void> {
  let id: unknown = null
  try {
    const message = JSON.parse(text) as { id?: unknown; body?: unknown }
    id = message.id
    if (typeof id !== 'number') throw new Error('Refused a message without a numeric id')
    const result = await session.handle(message.body, (body) => handleRequest(body, services, (command) => engine.request(command)))
    ws.send(JSON.stringify({ id, ok: true, result }))
  } catch (error) {
    ws.send(JSON.stringify({ id, ok: false, error: (error as Error).message }))
  }
}

async function serveThumbnail(url: URL, folders: AllowedFolders, home: string, res: http.ServerResponse): Promise<void> {
  try {
    const data = await thumbnailRequest(folders, home, url.searchParams.get('path') ?? '', Number(url.searchParams.get('size') ?? 160))
    res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=3600' }).end(data)
  } catch (error) {
    const refused = ['PathRefused', 'ThumbnailRefused'].includes((error as Error).name)
    res.writeHead(refused ? 403 : 415, { 'content-type': 'text/plain; charset=utf-8' }).end((error as Error).message)
  }
}

/** The request's path and query, or null when its target is not a URL at all (such as `//`). */
function requestUrl(req: http.IncomingMessage): URL | null {
  try {
    return new URL(req.url ?? '/', 'http://localhost')
  } catch {
    return null
  }
}
