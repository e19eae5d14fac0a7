// The fit loop hands a step that takes several batches at once (the native step's runMany) groups
// of at most batchesPerRun, in order, and reports every batch as if it had run alone. What the
// steps compute is tested against tfjs elsewhere (finetune/steps.test.ts, native-step.test.ts):
// here a step that records what it was given.
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { CallbackList, fit, type BatchLogs, type FitState } from '../../../src/engine/train/fit'
import type { BatchSource } from '../../../src/engine/train/sources'
import type { StepBatch, TrainingStep } from '../../../src/engine/train/step'

beforeAll(() => tf.setBackend('cpu'))

const SAMPLES = 10
const BROKEN = 3

/** Sample i is the value i; sample BROKEN cannot be read (a batch of it alone comes back empty). */
const source: BatchSource = {
  size: SAMPLES,
  batch: async (indices) => {
    const kept = indices.filter((i) => i !== BROKEN)
    return { x: tf.tensor1d(kept), labels: Int32Array.from(kept), files: kept.map(String) }
  },
  close: () => {}
}

function recordingStep(batchesPerRun?: number) {
  const groups: number[][] = []
  const alive: boolean[] = []
  const take = (batches: readonly StepBatch[]) => {
    groups.push(batches.map((b) => b.labels[0]))
    alive.push(batches.every((b) => !b.x.isDisposed))
    return batches.map((b) => ({ loss: b.labels[0], right: 1 }))
  }
  const step = {
    description: 'recording',
    run: async (x: tf.Tensor, labels: Int32Array) => take([{ x, labels }])[0],
    ...(batchesPerRun ? { runMany: async (batches: readonly StepBatch[]) => take(batches), batchesPerRun } : {}),
    setLearningRate: () => {},
    sync: () => {},
    optimizerWeights: async () => [],
    setOptimizerWeights: async () => {},
    close: async () => {}
  } satisfies TrainingStep
  return { step, groups, alive }
}

async function fitOnce(step: TrainingStep) {
  const logs: BatchLogs[] = []
  const state: FitState = { step, suffix: { layers: [] } as never, lr: 0.1, history: [], stop: null, lastVal: null, changedSinceScore: false }
  const before = tf.memory().numTensors
  await fit(state, { firstEpoch: 1, lastEpoch: 1, batchSize: 1, seed: 1, classCount: 10, train: source, val: null }, new CallbackList([{ onBatchEnd: (l) => logs.push(l) }]))
  expect(tf.memory().numTensors).toBe(before) // every batch disposed, the empty one too
  return { logs, history: state.history }
}

describe('the fit loop and a step that takes several batches', () => {
  it('gets groups of at most batchesPerRun, in order, with every batch alive; each batch is reported as if run alone', async () => {
    const grouped = recordingStep(4)
    const one = recordingStep()
    const a = await fitOnce(grouped.step)
    const b = await fitOnce(one.step)
    // Ten batches of one read four at a time; the unreadable one is left out of its group.
    expect(grouped.groups.map((g) => g.length).sort()).toEqual([2, 3, 4])
    expect(grouped.alive.every(Boolean)).toBe(true)
    expect(one.groups.every((g) => g.length === 1)).toBe(true)
    // The same samples in the same order, the same reports, the same epoch.
    expect(grouped.groups.flat()).toEqual(one.groups.flat())
    expect(grouped.groups.flat()).not.toContain(BROKEN)
    expect(a.logs.map((l) => [l.batch, l.loss, l.acc])).toEqual(b.logs.map((l) => [l.batch, l.loss, l.acc]))
    expect(a.logs.map((l) => l.batch)).toHaveLength(SAMPLES - 1)
    expect(a.logs.at(-1)!.batches).toBe(SAMPLES)
    expect({ ...a.history[0], seconds: 0 }).toEqual({ ...b.history[0], seconds: 0 })
  })
})
