import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EngineEvent, EngineReply } from '../../src/shared/protocol'
import { DATA, ROOT, tempDir, weightsMirror } from '../helpers'

let engine: ChildProcess
const events: EngineEvent[] = []
const waiting = new Map<number, (reply: EngineReply) => void>()

beforeAll(() => {
  // Started the way the headless host starts it: child_process.fork, messages over IPC.
  engine = fork(path.join(ROOT, 'src', 'engine', 'process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: weightsMirror() },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc']
  })
  engine.on('message', (message: EngineReply | EngineEvent) => {
    if ('id' in message) waiting.get(message.id)?.(message)
    else events.push(message)
  })
})

afterAll(() => {
  engine.kill()
})

let nextId = 1
function request(body: unknown): Promise<EngineReply> {
  const id = nextId++
  return new Promise((resolve) => {
    waiting.set(id, resolve)
    engine.send({ id, body })
  })
}

describe('engine process', () => {
  it('answers info with the backend in use', async () => {
    const reply = await request({ command: 'info' })
    expect(reply).toMatchObject({ ok: true, result: { tfjsVersion: '4.22.0' } })
  })

  it('scans a dataset and sends progress events on the way', async () => {
    const reply = await request({ command: 'scan', dir: path.join(DATA, 'alien-vs-predator') })
    expect(reply).toMatchObject({ ok: true, result: { total: 894, classes: ['alien', 'predator'] } })
    expect(events.some((e) => e.event === 'scan' && e.requestId === nextId - 1)).toBe(true)
  })

  it('refuses malformed and unknown commands without dying', async () => {
    expect(await request({ command: 'format-disk' })).toMatchObject({ ok: false, error: expect.stringContaining('Refused a malformed command') })
    expect(await request({ command: 'scan', dir: 42 })).toMatchObject({ ok: false, error: expect.stringMatching(/^Refused a malformed command: dir: /) })
    expect(await request({ command: 'classifyImageNet', backbone: 'resnet50', files: [] })).toMatchObject({ ok: false })
    expect(await request({ command: 'info' })).toMatchObject({ ok: true })
  })

  it('reports engine errors as messages, not crashes', async () => {
    const missing = path.join(DATA, 'nothing-here')
    expect(await request({ command: 'scan', dir: missing })).toEqual({ id: nextId - 1, ok: false, error: `Dataset folder not found: ${missing}` })
    expect(engine.exitCode).toBeNull()
  })
})
