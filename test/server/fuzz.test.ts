// A bounded protocol fuzz on loopback: 10,000 hostile HTTP requests, raw WebSocket frames and
// JSON messages from a seeded generator, against a server in its own process. It must stay up,
// answer every message it was sent, and end with its memory where it began.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { EngineCommand } from '../../src/shared/protocol'
import { frame, rawExchange, rawWebSocket, startServerProcess, type ServerProcess } from './hostile'

const HTTP_REQUESTS = 3000
const WS_FRAMES = 4000
const JSON_MESSAGES = 3000
/** The whole run must finish within this, or the test fails (it takes well under a minute here). */
const DEADLINE_MS = 180_000
/** Generous: V8 and malloc keep pages after a burst; a leak of ~5 KB per request would still exceed it. */
const MAX_RSS_GROWTH = 48 * 1024 * 1024
/** Live objects after a full GC: a leak of ~500 bytes per request would exceed it. */
const MAX_HEAP_GROWTH = 5 * 1024 * 1024

let server: ServerProcess
beforeAll(async () => {
  server = await startServerProcess()
})
afterAll(() => server.stop())

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Fuzz {
  constructor(readonly next: () => number) {}
  int(max: number): number {
    return Math.floor(this.next() * max)
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }
  bytes(max: number): Buffer {
    return Buffer.from(Array.from({ length: this.int(max) }, () => this.int(256)))
  }
  text(max: number): string {
    const alphabet = ['a', '%', '/', '.', '\\', '\0', 'é', '\u202e', '\ud800', '"', '{', '}', '\r\n', ' ', '?', '#', '&', '=', '0']
    return Array.from({ length: this.int(max) }, () => this.pick(alphabet)).join('')
  }
}

/** Percent-encodes every byte (encodeURIComponent refuses lone surrogates, which are part of the fuzz). */
const percent = (text: string): string => [...Buffer.from(text)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')

const TARGETS = [
  '/',
  '/%',
  '/%%',
  '/%E0%A4%A',
  '//',
  '///x',
  '/..%2f..%2fetc/passwd',
  '/%2e%2e/%2e%2e/',
  '*',
  'http://[::1',
  '/api/thumb',
  '/api/',
  '/ws',
  '/index.html',
  '/assets/../../package.json',
  '/\\..\\..\\',
  `/${'a'.repeat(9000)}`
]

function hostileHttp(f: Fuzz, port: number, token: string): Buffer {
  const target = f.pick([
    ...TARGETS,
    `/api/thumb?token=${f.pick([token, 'é'.repeat(48), '', f.text(60)])}&path=${percent(f.text(40))}&size=${f.pick(['-1', 'NaN', '1e309', '96'])}`,
    `/${f.text(30)}`
  ])
  const method = f.pick(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'GE T', 'get', f.text(8)])
  const version = f.pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 extra', ''])
  const headers = [
    f.pick([
      `Host: 127.0.0.1:${port}`,
      `Host: 127.0.0.1:${port}`,
      'Host: attacker.example',
      `Host: localhost:${port}`,
      'Host: ',
      `Host: [::1]:${port}`,
      `Host: ${f.text(300)}`,
      ''
    ]),
    'Connection: close'
  ]
  for (let i = f.int(6); i > 0; i--) {
    headers.push(
      f.pick([
        `Range: bytes=${f.int(3000)}-${f.int(3000)}`,
        `Range: bytes=-${f.int(99)}`,
        `Range: ${f.text(20)}`,
        'Content-Length: -1',
        `Content-Length: ${f.int(100)}`,
        'Transfer-Encoding: chunked',
        'Upgrade: websocket',
        'Upgrade: h2c',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${f.text(24)}`,
        `Origin: ${f.pick(['null', 'http://attacker.example', `http://127.0.0.1:${port}`])}`,
        'If-None-Match: W/"0-0"',
        'Accept-Encoding: gzip, br',
        `X-${f.text(10)}: ${f.text(50)}`,
        `${f.text(12)}`,
        `Cookie: ${'x'.repeat(f.int(20_000))}`
      ])
    )
  }
  const head = Buffer.from(`${method} ${target} ${version}\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1')
  const body = f.pick([Buffer.alloc(0), Buffer.alloc(0), f.bytes(200), Buffer.from('5\r\nhello\r\nzz\r\n')])
  // Some are cut short, some are pure noise.
  const whole = Buffer.concat([head, body])
  return f.pick([whole, whole, whole, whole.subarray(0, f.int(whole.length)), f.bytes(400)])
}

/** Frames that leave the connection open (they are odd but legal), then one that is fatal. */
function hostileFrames(f: Fuzz): Buffer[] {
  const frames: Buffer[] = []
  for (let i = f.int(10); i > 0; i--) {
    frames.push(
      f.pick([
        frame({ opcode: 0x9, payload: f.bytes(125) }),
        frame({ opcode: 0xa, payload: f.bytes(125) }),
        frame({ opcode: 0x1, payload: Buffer.from(f.text(200)) }),
        frame({ opcode: 0x2, payload: f.bytes(300) }),
        Buffer.concat([
          frame({ opcode: 0x1, fin: false, payload: Buffer.from('{"id":') }),
          frame({ opcode: 0x0, payload: Buffer.from(`${f.int(9)},"body":7}`) })
        ])
      ])
    )
  }
  frames.push(
    f.pick([
      frame({ opcode: f.pick([0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]), payload: f.bytes(20) }),
      frame({ opcode: 0x1, rsv: 1 + f.int(7), payload: Buffer.from('{}') }),
      frame({ opcode: 0x1, mask: false, payload: Buffer.from('{}') }),
      frame({ opcode: 0x1, payload: Buffer.concat([Buffer.from('{"id":1,"x":"'), Buffer.from([0xc0 + f.int(64), 0xff]), Buffer.from('"}')]) }),
      frame({ opcode: f.pick([0x1, 0x2]), announcedLength: 80 * 1024 * 1024 + 1 + f.int(1 << 30) }),
      frame({ opcode: 0x9, payload: f.bytes(126 + f.int(200)) }),
      frame({ opcode: 0x9, fin: false }),
      frame({ opcode: 0x0, payload: f.bytes(10) }),
      frame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8 + f.int(4) + 4]) }),
      frame({ opcode: 0x8, payload: Buffer.from([0x00, 0x05]) }),
      frame({ opcode: 0x1, payload: f.bytes(40) }).subarray(0, 2 + f.int(6))
    ])
  )
  return frames
}

function randomJson(f: Fuzz, depth: number): unknown {
  const kind = depth > 3 ? f.int(4) : f.int(7)
  switch (kind) {
    case 0:
      return f.pick([null, true, false, 0, -1, 1e308, -1e-308, 2 ** 53 + 1, 0.5])
    case 1:
      return f.text(40)
    case 2:
      return f.pick(['/etc', '/', '../../..', '\0', '', 'C:\\Windows', '/dev/zero', '/proc/self/environ'])
    case 3:
      return f.int(1000)
    case 4:
      return Array.from({ length: f.int(5) }, () => randomJson(f, depth + 1))
    default: {
      const object: Record<string, unknown> = {}
      for (let i = f.int(5); i > 0; i--)
        object[f.pick(['__proto__', 'constructor', 'dir', 'files', 'images', 'config', 'model', 'id', f.text(8)])] = randomJson(f, depth + 1)
      return object
    }
  }
}

const COMMANDS = EngineCommand.options.map((o) => o.shape.command.value)

/** A message the server must refuse before the engine is involved (none may pass the schema). */
function hostileMessage(f: Fuzz, id: number): string {
  for (;;) {
    const body = f.int(3) === 0 ? randomJson(f, 0) : { ...(randomJson(f, 1) as object), command: f.pick([...COMMANDS, 'rm', '', 'constructor']) }
    if (EngineCommand.safeParse(body).success) continue
    return f.pick([
      () => JSON.stringify({ id, body }),
      () => JSON.stringify({ id: f.pick([String(id), null, [id], { id }]), body }),
      () => JSON.stringify({ id, body }).slice(0, -1 - f.int(5)),
      () => `${'['.repeat(5000 + f.int(5000))}${']'.repeat(f.int(2))}`,
      () => f.text(100),
      () => `{"__proto__":{"polluted":true},"id":${id},"body":{"command":"info","constructor":{"prototype":{"x":1}}}}`.replace('"info"', '"inf0"')
    ])()
  }
}

async function inParallel<T>(items: Iterable<T>, width: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]()
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value)
    })
  )
}

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i
}

/** Sends frames one by one on a hand-made WebSocket; stops when the server hangs up. Returns how many were sent. */
async function sendFrames(port: number, token: string, frames: Buffer[]): Promise<number> {
  const socket = await rawWebSocket(port, token)
  let closed = false
  const ended = new Promise<void>((resolve) => {
    socket.on('close', () => ((closed = true), resolve()))
    socket.on('error', () => socket.destroy())
  })
  socket.resume()
  let sent = 0
  for (const bytes of frames) {
    if (closed) break
    socket.write(bytes)
    sent++
  }
  await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 300))])
  socket.destroy()
  return sent
}

/** Sends each message on a WebSocket and waits for as many answers. */
async function sendMessages(port: number, token: string, messages: string[]): Promise<unknown[]> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}`)
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const replies: unknown[] = []
  const all = new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      replies.push(JSON.parse(data.toString()))
      if (replies.length === messages.length) resolve()
    })
  )
  for (const message of messages) ws.send(message)
  await all
  ws.close()
  return replies
}

async function attack(seed: number, counts: { http: number; frames: number; messages: number }, deadline: number) {
  const f = new Fuzz(random(seed))
  const { port, token } = server
  const sent = { http: 0, frames: 0, messages: 0 }
  const timeLeft = (): void => {
    if (Date.now() > deadline) throw new Error(`fuzz ran out of time after ${JSON.stringify(sent)}`)
  }

  await inParallel(range(counts.http), 16, async () => {
    timeLeft()
    await rawExchange(port, hostileHttp(f, port, token), 300)
    sent.http++
  })

  const batches: Buffer[][] = []
  for (let total = 0; total < counts.frames;) {
    const batch = hostileFrames(f).slice(0, counts.frames - total)
    batches.push(batch)
    total += batch.length
  }
  await inParallel(batches, 16, async (batch) => {
    timeLeft()
    // Frames the server never read because it had already hung up are sent again on the next connection.
    let rest = batch
    while (rest.length > 0) {
      const n = await sendFrames(port, token, rest)
      sent.frames += n
      rest = rest.slice(n)
    }
  })

  const perSocket = 300
  const groups = Array.from({ length: Math.ceil(counts.messages / perSocket) }, (_, g) =>
    Array.from({ length: Math.min(perSocket, counts.messages - g * perSocket) }, (_, i) => hostileMessage(f, g * perSocket + i))
  )
  await inParallel(groups, 4, async (messages) => {
    timeLeft()
    const replies = await sendMessages(port, token, messages)
    expect(replies.every((r) => (r as { ok: boolean }).ok === false)).toBe(true)
    sent.messages += replies.length
  })
  return sent
}

describe('protocol fuzz', () => {
  it('survives 10,000 hostile requests, frames and messages with its memory flat', { timeout: DEADLINE_MS + 60_000 }, async () => {
    const started = Date.now()
    const deadline = started + DEADLINE_MS
    // Warm up first: code paths compiled, pools and caches at their working size.
    await attack(1, { http: 300, frames: 300, messages: 300 }, deadline)
    const before = await server.memory()
    const sent = await attack(2, { http: HTTP_REQUESTS, frames: WS_FRAMES, messages: JSON_MESSAGES }, deadline)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const after = await server.memory()
    const seconds = (Date.now() - started) / 1000
    const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)
    const change = (key: 'rss' | 'heapUsed'): string =>
      `${mib(before[key])} MiB before, ${mib(after[key])} MiB after (${after[key] >= before[key] ? '+' : ''}${mib(after[key] - before[key])} MiB)`
    console.log(
      `fuzz: ${sent.http} HTTP requests, ${sent.frames} WebSocket frames, ${sent.messages} JSON messages in ${seconds.toFixed(1)} s; ` +
        `server RSS ${change('rss')}; live JS heap ${change('heapUsed')}`
    )
    expect(sent.http + sent.frames + sent.messages).toBe(10_000)
    expect(server.alive(), server.output()).toBe(true)
    expect(after.rss - before.rss).toBeLessThan(MAX_RSS_GROWTH)
    // RSS also holds heap pages V8 keeps for reuse; what is still reachable after a full GC is the leak signal.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(MAX_HEAP_GROWTH)
    // And it still works for a legitimate client.
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(200)
    const [reply] = await sendMessages(server.port, server.token, [
      JSON.stringify({ id: 1, body: { command: 'listImages', dir: '/etc', split: 'train', label: 'x', offset: 0, limit: 1 } })
    ])
    expect(reply).toMatchObject({ id: 1, ok: false, error: 'Refused: /etc is outside the folders you opened' })
  })
})
