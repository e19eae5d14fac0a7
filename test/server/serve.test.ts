import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { RunningServer } from '../../src/server/serve'
import { DATA, ODD, startTestServer, tempDir } from '../helpers'

let server: RunningServer
let base: string

beforeAll(async () => {
  server = await startTestServer()
  base = `http://127.0.0.1:${server.port}`
})
afterAll(() => server.close())

function connect(token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${token}`)
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

function ask(ws: WebSocket, id: number, body: unknown): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  return new Promise((resolve) => {
    const listen = (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString())
      if (message.id === id) {
        ws.off('message', listen)
        resolve(message)
      }
    }
    ws.on('message', listen)
    ws.send(JSON.stringify({ id, body }))
  })
}

describe('headless server', () => {
  it('listens on loopback and prints a URL with its token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`)
    expect(server.token).toMatch(/^[0-9a-f]{48}$/)
  })

  it('serves the app shell, and nothing outside it', async () => {
    const shell = await fetch(`${base}/`)
    expect(shell.status).toBe(200)
    expect(shell.headers.get('content-type')).toBe('text/html;charset=utf-8')
    expect(shell.headers.get('x-content-type-options')).toBe('nosniff')
    expect(shell.headers.get('referrer-policy')).toBe('no-referrer')
    expect(shell.headers.get('content-security-policy')).toBe("frame-ancestors 'none'")
    // Only files found in the built UI at start are served; anything else is simply not there.
    expect((await fetch(`${base}/..%2F..%2Fpackage.json`)).status).toBe(404)
    expect((await fetch(`${base}/%2e%2e/%2e%2e/package.json`)).status).toBe(404)
  })

  it('refuses data requests and WebSocket connections without the token', async () => {
    expect((await fetch(`${base}/api/thumb?path=${encodeURIComponent(path.join(ODD, 'hymenoptera_formica.jpeg'))}`)).status).toBe(401)
    expect((await fetch(`${base}/api/thumb?token=wrong&path=x`)).status).toBe(401)
    await expect(connect('0'.repeat(48))).rejects.toThrow(/401/)
  })

  it('refuses paths outside the folders the user opened, links and .. included', async () => {
    const ws = await connect(server.token)
    const weather = path.join(DATA, 'mini', 'weather')
    const outside = await ask(ws, 1, { command: 'listImages', dir: path.join(DATA, 'hymenoptera'), split: 'train', label: 'ants', offset: 0, limit: 5 })
    expect(outside).toMatchObject({ ok: false, error: `Refused: ${path.join(DATA, 'hymenoptera')} is outside the folders you opened` })

    expect(await ask(ws, 2, { command: 'scan', dir: weather })).toMatchObject({ ok: true, result: { total: 80 } })
    const inside = await ask(ws, 3, { command: 'listImages', dir: weather, split: 'val', label: 'rain', offset: 0, limit: 2 })
    expect(inside).toMatchObject({ ok: true, result: { total: 5 } })
    const image = (inside.result as { files: string[] }).files[0]
    const thumb = await fetch(`${base}/api/thumb?token=${server.token}&size=96&path=${encodeURIComponent(image)}`)
    expect([thumb.status, thumb.headers.get('content-type')]).toEqual([200, 'image/jpeg'])

    const climbing = path.join(weather, '..', 'hymenoptera', 'train', 'ants', fs.readdirSync(path.join(DATA, 'mini', 'hymenoptera', 'train', 'ants'))[0])
    expect((await fetch(`${base}/api/thumb?token=${server.token}&path=${encodeURIComponent(climbing)}`)).status).toBe(403)
    const link = path.join(tempDir(), 'escape')
    fs.symlinkSync(path.join(DATA, 'hymenoptera'), link)
    const viaLink = await ask(ws, 4, { command: 'evaluateModel', model: path.join(link, 'x'), data: weather })
    expect(viaLink).toMatchObject({ ok: false, error: expect.stringMatching(/^Refused: .* is outside the folders you opened$/) })
    ws.close()
  })

  it('answers malformed messages with an error and keeps serving', async () => {
    const ws = await connect(server.token)
    expect(await ask(ws, 1, { command: 'scan', dir: 12 })).toMatchObject({ ok: false, error: expect.stringContaining('Refused a malformed command') })
    const reply = await new Promise<string>((resolve) => {
      ws.once('message', (data) => resolve(data.toString()))
      ws.send('not json at all')
    })
    expect(JSON.parse(reply)).toMatchObject({ id: null, ok: false })
    expect(await ask(ws, 2, { command: 'info' })).toMatchObject({ ok: true })
    ws.close()
  })
})
