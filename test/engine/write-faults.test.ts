// Writes that fail half way (disk full, a folder turned read-only): a clear error, and the
// previous good files untouched. The failures are injected into node:fs/promises, since root
// (which CI runs as) ignores read-only permissions.
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { DATA, tempDir, trainConfig, weightsMirror } from '../helpers'

const failures: Array<{ match: RegExp; code: string }> = []
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>()
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const target = String(args[0])
      const failure = failures.find((f) => f.match.test(target))
      if (failure) throw Object.assign(new Error(`${failure.code}: injected failure, write '${target}'`), { code: failure.code })
      return fn(...args)
    }
  // Weights and run states are written through a file handle (util/atomic.ts writeParts): opening one
  // for writing fails as writeFile does.
  const open = (file: Parameters<typeof actual.open>[0], flags?: Parameters<typeof actual.open>[1], mode?: Parameters<typeof actual.open>[2]) =>
    /[wa+]/.test(String(flags ?? 'r')) ? guard(actual.open)(file, flags, mode) : actual.open(file, flags, mode)
  const patched = { ...actual, writeFile: guard(actual.writeFile), rename: guard(actual.rename), open }
  return { ...patched, default: patched }
})

const { initBackend } = await import('../../src/engine/backend')
const { loadModel } = await import('../../src/engine/model/store')
const { train } = await import('../../src/engine/train/trainer')

let home: string
beforeAll(async () => {
  await initBackend()
  home = tempDir()
})

const weather = path.join(DATA, 'mini', 'weather')
const config = (out: string, seed?: number) => trainConfig({ data: weather, backbone: 'mobilenet_v1_0.25_224', epochs: 1, out, seed })

describe('failed writes', () => {
  it('a full disk while saving a model leaves the previous model intact and says what failed', async () => {
    const out = path.join(tempDir(), 'model')
    await train(config(out), { home, mirror: weightsMirror() })
    const before = fs.readFileSync(path.join(out, 'weights.bin'))

    failures.push({ match: /\.model\.partial-[^/]+\/weights\.bin$/, code: 'ENOSPC' })
    const error = await train(config(out, 7), { home, mirror: weightsMirror() }).catch((e: Error) => e)
    failures.length = 0
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(new RegExp(`^Could not save the model to ${out}: ENOSPC`))
    expect(fs.readFileSync(path.join(out, 'weights.bin')).equals(before)).toBe(true)
    const { metadata } = await loadModel(out)
    expect(metadata.training?.seed).toBe(42)
    // No half-built folder is left beside it.
    expect(fs.readdirSync(path.dirname(out))).toEqual(['model'])
  })

  it('a failure while saving the run state stops the run with the reason, and no broken state remains', async () => {
    failures.push({ match: /state\.partial-.*optimizer\.bin$/, code: 'EROFS' })
    const events: string[] = []
    const error = await train(config(path.join(tempDir(), 'model')), {
      home,
      mirror: weightsMirror(),
      onEvent: (e) => e.event === 'run' && events.push(e.runDir)
    }).catch((e: Error) => e)
    failures.length = 0
    expect((error as Error).message).toMatch(/EROFS: injected failure/)
    const runDir = events[0]
    expect(fs.readdirSync(runDir).filter((f) => f.startsWith('.state') || f === 'state')).toEqual([])
  })
})
