// Kill the engine process in the middle of a training run, as the kernel's OOM killer would:
// the host must stay up, say what happened, start a new engine, and finish the run from its
// last completed epoch.
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { EngineEvent } from '../../src/shared/protocol'
import { EngineConnection } from '../../src/host/engine-connection'
import { DATA, ROOT, tempDir, weightsMirror } from '../helpers'

describe('engine crash during training', () => {
  it('restarts the engine and resumes the run with no completed epoch lost', { timeout: 300_000 }, async () => {
    const home = tempDir()
    const children: ChildProcess[] = []
    const events: EngineEvent[] = []
    let killed = false
    const engine = new EngineConnection(
      () => {
        const child = fork(path.join(ROOT, 'src', 'engine', 'process.ts'), [], {
          execArgv: ['--import', 'tsx'],
          env: { ...process.env, TRANSFER_STUDIO_HOME: home, TRANSFER_STUDIO_WEIGHTS: weightsMirror() },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc']
        })
        children.push(child)
        return {
          send: (m) => child.send(m as object),
          onMessage: (h) => child.on('message', h),
          onExit: (h) => child.on('exit', h),
          kill: () => child.kill()
        }
      },
      (event) => {
        events.push(event)
        if (!killed && event.event === 'train' && event.data.event === 'epoch' && event.data.epoch === 2) {
          killed = true
          children.at(-1)!.kill('SIGKILL')
        }
      }
    )
    const result = (await engine.request({
      command: 'train',
      // End to end, so each epoch takes long enough for the kill to land inside the run.
      config: { data: path.join(DATA, 'mini', 'weather'), backbone: 'mobilenet_v1_0.25_224', epochs: 5, cacheFeatures: false }
    })) as { history: Array<{ epoch: number }>; stopped: string }
    engine.stop()

    expect(children).toHaveLength(2)
    expect(children[0].signalCode).toBe('SIGKILL')
    const restarted = events.find((e) => e.event === 'engine-restarted')
    expect(restarted).toMatchObject({ message: expect.stringContaining('the run continues from its last completed epoch') })
    const epochs = events.flatMap((e) => (e.event === 'train' && e.data.event === 'epoch' ? [e.data.epoch] : []))
    // Epochs 1 and 2 ran in the first engine, 3 to 5 in the second: nothing was done twice or lost.
    expect(epochs).toEqual([1, 2, 3, 4, 5])
    expect(result.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5])
    expect(result.stopped).toBe('completed')
  })
})
