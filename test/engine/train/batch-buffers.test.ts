import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { BatchBuffers } from '../../../src/engine/train/batch-buffers'

beforeAll(() => tf.setBackend('cpu'))

describe('batch buffers', () => {
  it('hands a buffer out again only after every tensor reading it is released', () => {
    const buffers = new BatchBuffers()
    const first = buffers.take(6)
    first.set([1, 2, 3, 4, 5, 6])
    const x = buffers.tensor(first, [2, 3])
    expect(buffers.take(6)).not.toBe(first) // x is alive
    const view = x.reshape([3, 2]) // shares x's values on the cpu backend
    x.dispose()
    expect(buffers.take(6)).not.toBe(first)
    expect(Array.from(view.dataSync())).toEqual([1, 2, 3, 4, 5, 6])
    view.dispose()
    expect(buffers.take(6)).toBe(first)
  })

  it('matches buffers by length and keeps as many idle as were lent at once, at least `keep`', () => {
    const buffers = new BatchBuffers(1)
    const a = buffers.take(4)
    buffers.tensor(a, [4]).dispose()
    const b = buffers.take(8)
    buffers.tensor(b, [8]).dispose()
    // One lent at a time: one idle buffer is kept, the oldest released goes to the collector.
    const again = buffers.take(4)
    expect(again).not.toBe(a)
    expect(again).toHaveLength(4)
    expect(buffers.take(8)).toBe(b)
    // A training step holding three batches at once: all three come back.
    const held = [buffers.take(2), buffers.take(2), buffers.take(2)]
    tf.dispose(held.map((h) => buffers.tensor(h, [2])))
    const next = [buffers.take(2), buffers.take(2), buffers.take(2)]
    expect(new Set(next)).toEqual(new Set(held))
  })

  it('reserves buffers a step will hold at once: written through, handed out, and kept beside a shorter batch', () => {
    const buffers = new BatchBuffers(1)
    const lent = buffers.take(6)
    const x = buffers.tensor(lent, [6])
    expect(buffers.reserve(3, 6)).toBe(2) // one lent already: two more
    expect(buffers.reserve(3, 6)).toBe(0)
    const taken = [buffers.take(6), buffers.take(6)]
    expect(taken.every((b) => b !== lent && b.length === 6 && b.every((v) => v === 0))).toBe(true)
    expect(buffers.take(6)).not.toBe(taken[0]) // a fourth is new
    // Released, all three and a shorter last batch's stay idle for the next epoch.
    const short = buffers.take(2)
    tf.dispose([x, ...taken.map((b) => buffers.tensor(b, [6])), buffers.tensor(short, [2])])
    const again = new Set([buffers.take(6), buffers.take(6), buffers.take(6)])
    expect(again).toEqual(new Set([lent, ...taken]))
    expect(buffers.take(2)).toBe(short)
  })
})
