// The layering rules of eslint.config.js fail on the imports they forbid (and pass the ones allowed).
import path from 'node:path'
import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers'

const eslint = new ESLint({ cwd: ROOT, ignore: false })

async function rulesBroken(code: string, file: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) })
  return result.messages.map((m) => m.ruleId ?? m.message)
}

describe('layering rules', () => {
  it('refuse the renderer an import of the engine, a host or Node', async () => {
    expect(await rulesBroken("import { train } from '../../../engine/api'\nexport const t = train\n", 'src/renderer/src/views/Bad.ts')).toContain(
      'no-restricted-imports'
    )
    expect(await rulesBroken("import { startServer } from '../../server/serve'\nexport const s = startServer\n", 'src/renderer/src/bad.ts')).toContain(
      'no-restricted-imports'
    )
    expect(await rulesBroken("import fs from 'node:fs'\nexport const f = fs\n", 'src/renderer/src/bad.ts')).toContain('no-restricted-imports')
  })

  it('refuse the engine an import of a host or Electron', async () => {
    expect(await rulesBroken("import { admit } from '../server/allowed'\nexport const a = admit\n", 'src/engine/bad.ts')).toContain('no-restricted-imports')
    expect(await rulesBroken("import { app } from 'electron'\nexport const a = app\n", 'src/engine/bad.ts')).toContain('no-restricted-imports')
  })

  it('refuse src/shared anything of ours outside it, and Node', async () => {
    expect(await rulesBroken("import { train } from '../engine/api'\nexport const t = train\n", 'src/shared/bad.ts')).toContain('no-restricted-imports')
    expect(await rulesBroken("import path from 'node:path'\nexport const p = path\n", 'src/shared/bad.ts')).toContain('no-restricted-imports')
  })

  it('allow the imports along the arrows', async () => {
    expect(
      await rulesBroken("import { describeAccuracy } from '../../../shared/confidence'\nexport const d = describeAccuracy\n", 'src/renderer/src/ok.ts')
    ).toEqual([])
    expect(await rulesBroken("import { TrainConfig } from '../shared/protocol'\nexport const c = TrainConfig\n", 'src/engine/ok.ts')).toEqual([])
    expect(await rulesBroken("import { wilsonInterval } from './confidence'\nexport const w = wilsonInterval\n", 'src/shared/ok.ts')).toEqual([])
  })

  it('find an import cycle', async () => {
    const [result] = await eslint.lintFiles([path.join(ROOT, 'test', 'lint-fixtures', 'cycle-a.ts')])
    expect(result.messages.map((m) => m.ruleId)).toContain('import-x/no-cycle')
  })
})
