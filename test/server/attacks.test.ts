// Each request here once ended the whole server (and every training run in it), or let a
// stranger in. Written as the attack itself, raw bytes on a TCP socket, against a server in its
// own process; after each, the server must still be running and still answer.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ODD, ROOT, tempDir } from '../helpers'
import { frame, httpRequest, rawExchange, rawWebSocket, startServerProcess, upgradeRequest, type ServerProcess } from './hostile'

let server: ServerProcess
let renderer: string

beforeAll(async () => {
  // A copy of the built UI, so one test can take a file away while the server runs.
  renderer = tempDir('ts-renderer-')
  fs.cpSync(path.join(ROOT, 'out', 'renderer'), renderer, { recursive: true })
  server = await startServerProcess({ TS_TEST_RENDERER: renderer })
})
afterAll(() => server.stop())

/** The server process is running, serves its page, and answers on its WebSocket. */
async function stillAnswers(): Promise<void> {
  expect(server.alive(), server.output()).toBe(true)
  const page = await fetch(`http://127.0.0.1:${server.port}/`, { signal: AbortSignal.timeout(10_000) })
  expect(page.status).toBe(200)
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`)
  const reply = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => ws.send('not json'))
    ws.once('message', (data) => resolve(data.toString()))
    ws.once('error', reject)
  })
  ws.close()
  expect(JSON.parse(reply)).toMatchObject({ id: null, ok: false })
}

const statusOf = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)

/** Reads the close frame the server sends and returns its status code (RFC 6455 §7.4). */
function closeCodeAfter(socket: net.Socket, bytes: Buffer): Promise<number | null> {
  return new Promise((resolve) => {
    let seen = Buffer.alloc(0)
    const timer = setTimeout(() => finish(null), 5000)
    const finish = (code: number | null): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(code)
    }
    socket.on('data', (chunk) => {
      seen = Buffer.concat([seen, chunk])
      if (seen.length >= 4 && (seen[0] & 0x0f) === 0x8) finish(seen.readUInt16BE(2))
    })
    socket.on('error', () => finish(null))
    socket.on('close', () => finish(null))
    socket.write(bytes)
  })
}

describe('requests that used to end the server', () => {
  it('item 1: a bad percent-encoding, or a target that is no URL, gets an error answer', async () => {
    for (const target of ['/%', '/%E0%A4%A', '/assets/%ZZ.js', '//', '/%2e%2e/%2e%2e/package.json']) {
      const status = statusOf(await rawExchange(server.port, httpRequest(target, server.port)))
      expect([target, [400, 404].includes(status)]).toEqual([target, true])
    }
    await stillAnswers()
  })

  it('a Range that ends before it starts is ignored, not fatal', async () => {
    const answer = await rawExchange(server.port, httpRequest('/index.html', server.port, { Range: 'bytes=10-5' }))
    expect(statusOf(answer)).toBe(200)
    const partial = await rawExchange(server.port, httpRequest('/index.html', server.port, { Range: 'bytes=0-9' }))
    expect(statusOf(partial)).toBe(206)
    await stillAnswers()
  })

  it('a file that vanished since the server started (a rebuild) fails that request only', async () => {
    const assets = path.join(renderer, 'assets')
    const victim = fs.readdirSync(assets).find((f) => f.endsWith('.css'))!
    fs.rmSync(path.join(assets, victim))
    await rawExchange(server.port, httpRequest(`/assets/${victim}`, server.port))
    await stillAnswers()
  })

  it('item 2: a token of the right length in characters but not in bytes is refused', async () => {
    const token = encodeURIComponent('é'.repeat(server.token.length))
    expect(statusOf(await rawExchange(server.port, httpRequest(`/api/thumb?token=${token}&path=x`, server.port)))).toBe(401)
    expect(statusOf(await rawExchange(server.port, upgradeRequest(`/ws?token=${token}`, server.port)))).toBe(401)
    await stillAnswers()
  })

  it('item 3: an upgrade without a token whose connection is reset before the answer', async () => {
    for (let i = 0; i < 40; i++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(server.port, '127.0.0.1', () => {
          socket.write(upgradeRequest('/ws', server.port))
          socket.resetAndDestroy()
        })
        socket.on('error', () => {})
        socket.on('close', () => resolve())
      })
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
    await stillAnswers()
  })

  it('item 4: WebSocket protocol errors after a valid upgrade close that connection only', async () => {
    const attacks: Array<[string, Buffer, number]> = [
      ['oversized frame (length announced above the cap)', frame({ opcode: 0x1, announcedLength: 80 * 1024 * 1024 + 1 }), 1009],
      ['invalid UTF-8 in a text frame', frame({ opcode: 0x1, payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }), 1007],
      ['reserved opcode 0x3', frame({ opcode: 0x3, payload: Buffer.from('x') }), 1002],
      ['RSV1 set with no extension', frame({ opcode: 0x1, rsv: 4, payload: Buffer.from('{}') }), 1002],
      ['unmasked client frame', frame({ opcode: 0x1, mask: false, payload: Buffer.from('{}') }), 1002],
      ['fragmented control frame', frame({ opcode: 0x9, fin: false, payload: Buffer.from('p') }), 1002],
      ['continuation with nothing to continue', frame({ opcode: 0x0, payload: Buffer.from('x') }), 1002]
    ]
    for (const [name, bytes, code] of attacks) {
      const socket = await rawWebSocket(server.port, server.token)
      expect([name, await closeCodeAfter(socket, bytes)]).toEqual([name, code])
    }
    await stillAnswers()
  })
})

describe('who may talk to the server', () => {
  it('answers HTTP only under its own host names (DNS rebinding)', async () => {
    const get = async (host: string) => statusOf(await rawExchange(server.port, httpRequest('/', server.port, { Host: host })))
    expect(await get(`127.0.0.1:${server.port}`)).toBe(200)
    expect(await get(`localhost:${server.port}`)).toBe(200)
    expect(await get(`attacker.example:${server.port}`)).toBe(403)
    expect(await get(`127.0.0.1.attacker.example:${server.port}`)).toBe(403)
    expect(await get(`127.0.0.1:${server.port + 1}`)).toBe(403)
    expect(await get('127.0.0.1@attacker.example')).toBe(403)
    const thumb = `/api/thumb?token=${server.token}&path=${encodeURIComponent(path.join(server.home, 'x.jpg'))}`
    expect(statusOf(await rawExchange(server.port, httpRequest(thumb, server.port, { Host: `attacker.example:${server.port}` })))).toBe(403)
    await stillAnswers()
  })

  it('opens a WebSocket only for its own origin and host, even with the right token', async () => {
    const upgrade = async (headers: Record<string, string>) =>
      statusOf(await rawExchange(server.port, upgradeRequest(`/ws?token=${server.token}`, server.port, headers), 1000))
    expect(await upgrade({})).toBe(101)
    expect(await upgrade({ Origin: `http://127.0.0.1:${server.port}` })).toBe(101)
    expect(await upgrade({ Origin: 'https://attacker.example' })).toBe(403)
    expect(await upgrade({ Origin: 'null' })).toBe(403)
    expect(await upgrade({ Origin: `http://localhost:${server.port}` })).toBe(403)
    expect(await upgrade({ Host: `attacker.example:${server.port}`, Origin: `http://attacker.example:${server.port}` })).toBe(403)
    await stillAnswers()
  })
})

describe('thumbnails', () => {
  it('refuses a FIFO at once, and the thread pool stays free for real images', async () => {
    const thumb = (file: string) =>
      fetch(`http://127.0.0.1:${server.port}/api/thumb?token=${server.token}&size=96&path=${encodeURIComponent(file)}`, {
        signal: AbortSignal.timeout(10_000)
      })
    // More FIFOs than libuv has pool threads (4): before the fix each one held a thread for good.
    const fifos = Array.from({ length: 6 }, (_, i) => path.join(server.home, `trap-${i}.jpg`))
    for (const fifo of fifos) execFileSync('mkfifo', [fifo])
    const refused = await Promise.all(fifos.map(async (f) => thumb(f).then(async (r) => [r.status, await r.text()])))
    for (const [status, text] of refused) {
      expect(status).toBe(403)
      expect(text).toMatch(/not a regular file/)
    }
    const image = path.join(server.home, 'formica.jpeg')
    fs.copyFileSync(path.join(ODD, 'hymenoptera_formica.jpeg'), image)
    const real = await thumb(image)
    expect([real.status, real.headers.get('content-type')]).toEqual([200, 'image/jpeg'])
    await stillAnswers()
  })
})
