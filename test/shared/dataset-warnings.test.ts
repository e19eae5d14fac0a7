import { describe, expect, it } from 'vitest'
import { classOfFile, datasetWarnings, summariseWarnings } from '../../src/shared/dataset-warnings'
import type { DatasetReport } from '../../src/shared/protocol'

const report: DatasetReport = {
  root: '/d',
  layout: 'splits',
  classes: ['ants', 'bees', 'empty', 'wasps'],
  splits: [
    { name: 'train', source: '/d/train', counts: { ants: 3, bees: 3, empty: 0, wasps: 2 }, total: 8 },
    { name: 'val', source: '/d/val', counts: { ants: 1, bees: 1, empty: 0, wasps: 0 }, total: 2 }
  ],
  missing: [
    { split: 'train', class: 'empty' },
    { split: 'val', class: 'empty' },
    { split: 'val', class: 'wasps' }
  ],
  skipped: [],
  notes: [],
  duplicates: [
    { files: ['/d/train/ants/1.jpg', '/d/train/bees/sub/1.jpg'], splits: ['train'] },
    { files: ['/d/train/ants/2.jpg', '/d/val/ants/2.jpg'], splits: ['train', 'val'] },
    { files: ['/d/train/bees/3.jpg', '/d/train/bees/3 copy.jpg'], splits: ['train'] }
  ],
  validation: { kind: 'folder' },
  total: 10
}

describe('dataset warnings', () => {
  it('say what training will do with each, and what to exclude', () => {
    const warnings = datasetWarnings(report)
    expect(warnings.map((w) => [w.kind, w.classes, w.files])).toEqual([
      ['empty-class', ['empty'], []],
      ['missing-in-split', ['wasps'], []],
      ['duplicate-across-classes', [], ['/d/train/ants/1.jpg', '/d/train/bees/sub/1.jpg']],
      ['duplicate-across-splits', [], ['/d/val/ants/2.jpg']],
      ['duplicate', [], ['/d/train/bees/3 copy.jpg']]
    ])
    expect(warnings[0].consequence).toMatch(/^Training will refuse to start/)
    expect(warnings[2].problem).toBe('The same image is in “ants” and “bees”: 1.jpg = 1.jpg.')
    expect(warnings[3].consequence).toMatch(/validation accuracy looks better than it is/)
    expect(warnings[4].problem).toMatch(/2 times/)
  })

  it('are settled by excluding what they name', () => {
    const left = datasetWarnings(report, { classes: ['empty', 'wasps'], files: ['/d/train/bees/sub/1.jpg', '/d/val/ants/2.jpg', '/d/train/bees/3 copy.jpg'] })
    expect(left).toEqual([])
    // Excluding a class settles the duplicates that were in it.
    expect(datasetWarnings(report, { classes: ['bees'] }).map((w) => w.kind)).toEqual(['empty-class', 'missing-in-split', 'duplicate-across-splits'])
  })

  it("name a file's class by its class folder, even in a sub-folder", () => {
    expect(classOfFile('/d/train/bees/sub/1.jpg', report)).toBe('bees')
    expect(classOfFile('/elsewhere/cats/1.jpg')).toBe('cats')
  })

  it('are summarised a few of each kind for a terminal', () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ kind: 'duplicate' as const, problem: `p${i}`, consequence: 'c', files: [], classes: [] }))
    expect(summariseWarnings(many, 2)).toEqual(['p0 c', 'p1 c', '…and 3 more like it'])
  })
})
