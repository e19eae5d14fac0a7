import path from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { DATA } from '../../helpers'

// If a scan ever decoded an image, it would go through sharp: make that fail loudly.
vi.mock('sharp', () => ({
  default: () => {
    throw new Error('a scan must not decode images')
  }
}))

describe('scanning', () => {
  it('reads only file headers: no image is decoded', async () => {
    const { loadDataset } = await import('../../../src/engine/datasets/scan')
    const { report } = await loadDataset(path.join(DATA, 'hymenoptera'))
    expect(report.total).toBe(398)
  })
})
