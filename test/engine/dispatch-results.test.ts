// Real answers of the engine's commands against the command → result schemas of src/shared/results.ts:
// the types are checked at compile time, this checks what actually crosses the wire.
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { EngineEvent } from '../../src/shared/protocol'
import { CommandResults, type CommandName } from '../../src/shared/results'
import { EngineSession } from '../../src/engine/dispatch'
import { DATA, tempDir, weightsMirror } from '../helpers'

const session = new EngineSession()

const weather = path.join(DATA, 'mini', 'weather')
const events: EngineEvent[] = []

beforeAll(() => {
  process.env.TRANSFER_STUDIO_HOME = tempDir()
  process.env.TRANSFER_STUDIO_WEIGHTS = weightsMirror()
})

async function answer(command: { command: CommandName } & Record<string, unknown>) {
  const result = await session.dispatch(1, command, (event) => events.push(event))
  const parsed = CommandResults[command.command].safeParse(result)
  expect(parsed.error?.issues ?? [], command.command).toEqual([])
  return result
}

describe('engine answers match the result schemas', () => {
  it('for the commands of the dataset and model screens, a short training run and its evaluation', async () => {
    await answer({ command: 'info' })
    await answer({ command: 'listBackbones' })
    await answer({ command: 'scan', dir: weather })
    await answer({ command: 'listImages', dir: weather, split: 'train', label: 'rain', offset: 0, limit: 5 })
    await answer({ command: 'describeModel', backbone: 'mobilenet_v1_0.25_224', classes: 4 })
    const outcome = (await answer({ command: 'train', config: { data: weather, backbone: 'mobilenet_v1_0.25_224', epochs: 1 } })) as {
      runDir: string
      modelDir: string
    }
    expect(outcome).not.toHaveProperty('model')
    await answer({ command: 'readEvaluation', runDir: outcome.runDir })
    await answer({ command: 'readModel', model: outcome.modelDir })
    await answer({ command: 'listRuns' })
    await answer({ command: 'runHistory', runDir: outcome.runDir })
    await answer({ command: 'exportRunCsv', runDir: outcome.runDir })
    await answer({ command: 'renameRun', runDir: outcome.runDir, name: 'renamed' })
    await answer({ command: 'deleteRun', runDir: outcome.runDir })
    await answer({ command: 'stopTraining' })
    expect(events.some((e) => e.event === 'train')).toBe(true)
  })

  it('keeps one run at a time per session, and a fresh session starts with none', async () => {
    let release = (): void => {}
    const busy = session.exclusive('a test', () => new Promise<void>((resolve) => (release = resolve)))
    await expect(session.exclusive('another', async () => 1)).rejects.toThrow(/already in progress: stop it before another/)
    expect(await new EngineSession().exclusive('another', async () => 1)).toBe(1)
    expect(session.stop()).toBe(true)
    release()
    await busy
    expect(session.stop()).toBe(false)
  })

  it('refuses a result that does not fit: the schemas are not too loose to notice', () => {
    expect(CommandResults.train.safeParse({ runDir: '/x', modelDir: '/x/model' }).success).toBe(false)
    expect(CommandResults.stopTraining.safeParse({ stopping: 'yes' }).success).toBe(false)
  })
})
