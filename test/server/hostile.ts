// Tools for attacking the headless server as a stranger would: a server in its own process, raw
// TCP requests, and WebSocket frames built by hand (RFC 6455 §5.2), malformed on purpose.
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import path from 'node:path'
import { ROOT } from '../helpers'

export interface ServerProcess {
  port: number
  token: string
  home: string
  child: ChildProcess
  /** Memory use of the server process after a full garbage collection. */
  memory(): Promise<NodeJS.MemoryUsage>
  /** Whether the process is still running; each attack asserts it is, then that it still answers. */
  alive(): boolean
  /** What the process wrote to stderr (a crash's stack). */
  output(): string
  stop(): Promise<void>
}

export async function startServerProcess(env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = fork(path.join(ROOT, 'test', 'server', 'fixtures', 'server-process.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc']
  })
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const ready = await new Promise<{ port: number; token: string; home: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number; token: string; home: string }))
    child.once('exit', (code) => reject(new Error(`server process exited (${code}) before listening: ${stderr}`)))
  })
  return {
    ...ready,
    child,
    memory: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as NodeJS.MemoryUsage))
        child.send({ ask: 'memory' })
      }),
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.disconnect()
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
    output: () => stderr
  }
}

/** Sends `bytes` on a fresh connection and collects what comes back until the server closes or `ms` pass. */
export function rawExchange(port: number, bytes: Buffer | string, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const done = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(Buffer.concat(chunks).toString('latin1'))
    }
    const timer = setTimeout(done, ms)
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', done)
    socket.on('close', done)
    socket.write(bytes)
  })
}

export function httpRequest(pathAndQuery: string, port: number, headers: Record<string, string> = {}): string {
  const lines = [
    `GET ${pathAndQuery} HTTP/1.1`,
    ...Object.entries({ Host: `127.0.0.1:${port}`, Connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}`)
  ]
  return `${lines.join('\r\n')}\r\n\r\n`
}

export function upgradeRequest(pathAndQuery: string, port: number, headers: Record<string, string> = {}): string {
  return httpRequest(pathAndQuery, port, {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    ...headers
  })
}

export interface FrameSpec {
  opcode: number
  payload?: Buffer
  fin?: boolean
  /** RSV1-3 bits (0-7): must be 0 without a negotiated extension. */
  rsv?: number
  /** Clients must mask; an unmasked client frame is a protocol error. */
  mask?: boolean
  /** Announce this length instead of the payload's real one (oversized frames need no real bytes). */
  announcedLength?: number
}

export function frame({ opcode, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = true, announcedLength }: FrameSpec): Buffer {
  const length = announcedLength ?? payload.length
  const head = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)]
  const maskBit = mask ? 0x80 : 0
  let extended = Buffer.alloc(0)
  if (length < 126) head.push(maskBit | length)
  else if (length < 65536) {
    head.push(maskBit | 126)
    extended = Buffer.alloc(2)
    extended.writeUInt16BE(length)
  } else {
    head.push(maskBit | 127)
    extended = Buffer.alloc(8)
    extended.writeBigUInt64BE(BigInt(length))
  }
  if (!mask) return Buffer.concat([Buffer.from(head), extended, payload])
  const key = randomBytes(4)
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]))
  return Buffer.concat([Buffer.from(head), extended, key, masked])
}

/** Opens a WebSocket by hand; resolves with the socket once the server agreed to switch protocols. */
export function rawWebSocket(port: number, token: string, headers: Record<string, string> = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let answer = ''
    const onData = (chunk: Buffer): void => {
      answer += chunk.toString('latin1')
      const end = answer.indexOf('\r\n\r\n')
      if (end === -1) return
      socket.off('data', onData)
      if (answer.startsWith('HTTP/1.1 101')) resolve(socket)
      else {
        socket.destroy()
        reject(new Error(answer.slice(0, end)))
      }
    }
    socket.on('data', onData)
    socket.on('error', reject)
    socket.write(upgradeRequest(`/ws?token=${token}`, port, headers))
  })
}
