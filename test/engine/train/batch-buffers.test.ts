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
})
