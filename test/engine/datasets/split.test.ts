import { describe, expect, it } from 'vitest'
import { splitStratified } from '../../../src/engine/datasets/split'

// 3 classes of unequal size, as real datasets are.
const items = [
  ...Array.from({ length: 50 }, (_, i) => ({ id: `a${i}`, label: 0 })),
  ...Array.from({ length: 30 }, (_, i) => ({ id: `b${i}`, label: 1 })),
  ...Array.from({ length: 7 }, (_, i) => ({ id: `c${i}`, label: 2 }))
]
const ids = (list: Array<{ id: string }>) => list.map((x) => x.id)
const countOf = (list: Array<{ label: number }>, label: number) => list.filter((x) => x.label === label).length

describe('splitStratified', () => {
  it('gives the same split for the same seed, and another for another seed', () => {
    const a = splitStratified(items, 0.2, 7)
    const b = splitStratified(items, 0.2, 7)
    const c = splitStratified(items, 0.2, 8)
    expect(ids(a.val)).toEqual(ids(b.val))
    expect(ids(a.train)).toEqual(ids(b.train))
    expect(ids(a.val)).not.toEqual(ids(c.val))
  })

  it('keeps every class in proportion, with no image in both sets and none lost', () => {
    const { train, val } = splitStratified(items, 0.2, 1)
    expect([countOf(val, 0), countOf(val, 1), countOf(val, 2)]).toEqual([10, 6, 1])
    expect(new Set([...ids(train), ...ids(val)]).size).toBe(items.length)
    expect(train.length + val.length).toBe(items.length)
  })

  it('keeps a tiny class in both sets', () => {
    const tiny = [{ label: 0 }, { label: 0 }, { label: 1 }, { label: 1 }, { label: 1 }]
    const { train, val } = splitStratified(tiny, 0.1, 3)
    expect([countOf(val, 0), countOf(val, 1)]).toEqual([1, 1])
    expect([countOf(train, 0), countOf(train, 1)]).toEqual([1, 2])
  })

  it('refuses fractions outside (0, 1)', () => {
    expect(() => splitStratified(items, 0, 1)).toThrow('between 0 and 1')
    expect(() => splitStratified(items, 1, 1)).toThrow('between 0 and 1')
  })
})
