import { describe, expect, it } from 'vitest'
import { describeSchemaError, EngineCommand, TrainConfig } from '../../src/shared/protocol'
import { seededRandom } from '../../src/engine/util/random'

describe('protocol validation', () => {
  it('accepts well-formed commands and fills training defaults as Keras would', () => {
    expect(EngineCommand.safeParse({ command: 'scan', dir: '/data' }).success).toBe(true)
    const config = TrainConfig.parse({ data: '/data', backbone: 'resnet50' })
    expect(config).toMatchObject({ epochs: 10, batchSize: 32, learningRate: 0.001, optimizer: 'adam', freeze: { kind: 'all' }, seed: 42 })
  })

  it('refuses unknown commands, wrong types, out-of-range and oversized values, with a readable reason', () => {
    const reason = (body: unknown) => {
      const parsed = EngineCommand.safeParse(body)
      return parsed.success ? null : describeSchemaError(parsed.error)
    }
    expect(reason({ command: 'rm -rf' })).toMatch(/command/)
    expect(reason({ command: 'scan', dir: 7 })).toMatch(/^dir: /)
    expect(reason({ command: 'scan', dir: '' })).toMatch(/^dir: /)
    expect(reason({ command: 'scan', dir: 'x'.repeat(5000) })).toMatch(/^dir: /)
    expect(reason({ command: 'classifyImageNet', backbone: 'resnet50', files: Array(1001).fill('/a.jpg') })).toMatch(/^files: /)
    expect(reason({ command: 'train', config: { data: '/d', backbone: 'resnet50', epochs: -1 } })).toMatch(/^config\.epochs: /)
    expect(reason({ command: 'train', config: { data: '/d', backbone: 'resnet50', freeze: { kind: 'some' } } })).toMatch(/^config\.freeze/)
    expect(reason(null)).not.toBeNull()
  })

  it('never throws on generated garbage, and never accepts it', () => {
    const random = seededRandom(2026)
    const values = [null, true, 0, -1, 1e308, NaN, '', 'scan', '../../etc/passwd', [], {}, { command: 'scan' }]
    const pick = () => values[Math.floor(random() * values.length)]
    const garbage = (depth: number): unknown => {
      if (depth === 0 || random() < 0.3) return pick()
      if (random() < 0.5) return Array.from({ length: Math.floor(random() * 4) }, () => garbage(depth - 1))
      const keys = ['command', 'dir', 'files', 'config', 'backbone', 'images', '__proto__', 'constructor']
      return Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 4) }, () => [keys[Math.floor(random() * keys.length)], garbage(depth - 1)]))
    }
    const accepted: unknown[] = []
    let aimed = 0
    for (let i = 0; i < 5000; i++) {
      const body = garbage(4)
      const parsed = EngineCommand.safeParse(body)
      if (parsed.success) accepted.push(body)
      if (body !== null && typeof body === 'object' && (body as { command?: unknown }).command === 'scan') aimed++
    }
    // The only command name among the values is `scan`, and no value is a usable folder for it.
    expect(accepted).toEqual([])
    // ...and the generator does reach the schema past its `command` check often enough to mean it.
    expect(aimed).toBeGreaterThan(100)
  })
})
