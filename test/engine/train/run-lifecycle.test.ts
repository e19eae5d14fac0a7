// What a run saves and how it ends: the restored best epoch is the one saved (and named), a Stop
// while features are computed ends the run cleanly and resumably, and two-phase fine-tuning
// (head first, then the chosen layers) trains as one run, resumable in its second phase.
import fs from 'node:fs'
import path from 'node:path'
import type * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { TrainConfig, type TrainConfigInput, type TrainEvent } from '../../../src/shared/protocol'
import { loadBackbone } from '../../../src/engine/backbones/load'
import { loadModel } from '../../../src/engine/model/store'
import { runLayout } from '../../../src/engine/train/run-layout'
import { resumeRun, train, type ResumeRunOptions } from '../../../src/engine/train/trainer'
import { DATA, tempDir, trainConfig, trainingSetup } from '../../helpers'

const env = trainingSetup()
const weather = path.join(DATA, 'mini', 'weather')
const hymenoptera = path.join(DATA, 'mini', 'hymenoptera')

async function run(config: TrainConfigInput | { resume: string }, extra: Partial<ResumeRunOptions> = {}) {
  const events: TrainEvent[] = []
  const options = { home: env.home, mirror: env.mirror, ...extra, onEvent: (e: TrainEvent) => (events.push(e), extra.onEvent?.(e)) }
  const result = 'resume' in config ? await resumeRun(config.resume, options) : await train(trainConfig(config), options)
  return { result, events }
}

/** Every weight of the layers named, by layer, as plain arrays. */
function layerWeights(model: tf.LayersModel, names: readonly string[]): Map<string, Float32Array[]> {
  return new Map(
    names.map((name) => [
      name,
      model
        .getLayer(name)
        .getWeights()
        .map((w) => w.dataSync() as Float32Array)
    ])
  )
}

const same = (a: Float32Array[], b: Float32Array[]) =>
  a.length === b.length && a.every((w, i) => Buffer.compare(Buffer.from(w.buffer), Buffer.from(b[i].buffer)) === 0)

describe('the saved epoch', () => {
  // Early stopping here ends two epochs after the best one (the trainer test checks that part).
  const settings = { data: weather, backbone: 'mobilenet_v1_0.25_224', epochs: 30, learningRate: 0.05 }

  it('restoring the best saves the best epoch, says which, and its metrics are that epoch', async () => {
    const { result, events } = await run({ ...settings, earlyStopping: { monitor: 'val_acc', patience: 2, restoreBest: true } })
    const last = result.history.at(-1)!.epoch
    expect(result.bestEpoch).toBe(last - 2)
    expect(result.savedEpoch).toBe(result.bestEpoch)
    expect(events.at(-1)).toMatchObject({ event: 'done', savedEpoch: result.bestEpoch, bestEpoch: result.bestEpoch })
    const saved = await loadModel(result.modelDir)
    const best = result.history[result.bestEpoch! - 1]
    expect(saved.metadata.savedEpoch).toBe(result.bestEpoch)
    expect(saved.metadata.metrics).toMatchObject({ loss: best.loss, acc: best.acc, val_acc: best.val_acc, epochs: last })
    // The same weights as the checkpoint written when that epoch ended.
    const checkpoint = await loadModel(runLayout(result.runDir).checkpoint)
    expect(checkpoint.metadata.savedEpoch).toBe(result.bestEpoch)
    const head = ['predictions']
    expect(same(layerWeights(saved.model, head).get('predictions')!, layerWeights(checkpoint.model, head).get('predictions')!)).toBe(true)
    saved.model.dispose()
    checkpoint.model.dispose()
  })

  it('without restoring, the last epoch is saved and named, the best one still reported', async () => {
    const { result } = await run({ ...settings, earlyStopping: { monitor: 'val_acc', patience: 2, restoreBest: false } })
    const last = result.history.at(-1)!.epoch
    expect(result.savedEpoch).toBe(last)
    expect(result.bestEpoch).toBe(last - 2)
    const saved = await loadModel(result.modelDir)
    expect(saved.metadata.savedEpoch).toBe(last)
    expect(saved.metadata.metrics.loss).toBe(result.history.at(-1)!.loss)
    const checkpoint = await loadModel(runLayout(result.runDir).checkpoint)
    expect(same(layerWeights(saved.model, ['predictions']).get('predictions')!, layerWeights(checkpoint.model, ['predictions']).get('predictions')!)).toBe(
      false
    )
    saved.model.dispose()
    checkpoint.model.dispose()
  })
})

describe('Stop while features are computed', () => {
  it('ends the run as stopped, saves no model, says so, and the run resumes from epoch 1', async () => {
    const controller = new AbortController()
    const { result, events } = await run(
      { data: hymenoptera, backbone: 'mobilenet_v1_0.25_224', epochs: 1 },
      { signal: controller.signal, onEvent: (e) => e.event === 'status' && e.phase === 'extracting' && (e.done ?? 0) > 0 && controller.abort() }
    )
    expect(result).toMatchObject({ stopped: 'stopped', history: [], savedEpoch: null, valAcc: null })
    expect(events).toContainEqual({
      event: 'notice',
      message: expect.stringMatching(/^Stopped before the first epoch: nothing was trained and no model was saved\. Resume .* to start again from epoch 1$/)
    })
    expect(events.at(-1)).toMatchObject({ event: 'done', stopped: 'stopped', savedEpoch: null, epochs: 0 })
    // Fewer images went through than the training split has: it did stop early.
    const extracted = events.filter((e): e is Extract<TrainEvent, { event: 'status' }> => e.event === 'status' && e.phase === 'extracting')
    expect(extracted.at(-1)!.done).toBeLessThan(extracted.at(-1)!.total!)
    expect(fs.existsSync(result.modelDir)).toBe(false)
    expect(fs.existsSync(runLayout(result.runDir).record)).toBe(true)

    const resumed = await run({ resume: result.runDir })
    expect(resumed.events).toContainEqual({
      event: 'notice',
      message: `${result.runDir} stopped before its first epoch finished: training starts again from epoch 1`
    })
    expect(resumed.result).toMatchObject({ stopped: 'completed', savedEpoch: 1 })
    expect(fs.existsSync(path.join(resumed.result.modelDir, 'model.json'))).toBe(true)
  })
})

describe('two-phase fine-tuning', () => {
  const FROZEN_UP_TO = 'conv_pw_12_relu'
  const twoPhase: TrainConfigInput = {
    data: hymenoptera,
    backbone: 'mobilenet_v1_0.25_224',
    freeze: { kind: 'upTo', layer: FROZEN_UP_TO },
    epochs: 2,
    batchSize: 8,
    learningRate: 0.001,
    head: { pooling: 'avg', dropout: 0, dense: [], init: 'keras' },
    twoPhase: { headEpochs: 1, learningRate: 0.0005 }
  }

  it('refuses a head phase as long as the whole run, saying why', () => {
    const parsed = TrainConfig.safeParse({ ...twoPhase, epochs: 1 })
    expect(parsed.success).toBe(false)
    expect(parsed.error!.issues[0]).toMatchObject({
      path: ['twoPhase', 'headEpochs'],
      message: 'the head-only phase (1 epochs) must be shorter than all epochs (1): epochs counts both phases'
    })
  })

  it('trains the head, then the unfrozen blocks at the lower rate: frozen layers stay bit-identical, the unfrozen change in phase 2 only', async () => {
    const afterPhase1 = path.join(tempDir(), 'checkpoint-epoch-1')
    let runDir = ''
    const { result, events } = await run(twoPhase, {
      onEvent: (e) => {
        if (e.event === 'run') runDir = e.runDir
        // The checkpoint written when epoch 1 (the first is always the best so far) ended: the model after phase 1.
        if (e.event === 'epoch' && e.epoch === 1) fs.cpSync(runLayout(runDir).checkpoint, afterPhase1, { recursive: true })
      }
    })
    expect(events.filter((e) => e.event === 'phase')).toEqual([
      { event: 'phase', phase: 2, epoch: 2, message: expect.stringContaining(`after ${FROZEN_UP_TO}`) }
    ])
    expect(result.history.map((h) => [h.epoch, h.phase, h.lr])).toEqual([
      [1, 1, 0.001],
      [2, 2, 0.0005]
    ])
    const engines = events
      .filter((e): e is Extract<TrainEvent, { event: 'notice' }> => e.event === 'notice' && e.message.startsWith('Unfrozen layers'))
      .map((e) => e.message)
    expect(engines).toHaveLength(2)
    expect(engines[0]).toMatch(/^Unfrozen layers \(after \w+\) train on TensorFlow\.js/)
    expect(engines[1]).toMatch(new RegExp(`^Unfrozen layers \\(after ${FROZEN_UP_TO}\\) train on onnxruntime`))

    const original = await loadBackbone('mobilenet_v1_0.25_224', { home: env.home, mirror: env.mirror })
    const phase1 = await loadModel(afterPhase1)
    const final = await loadModel(result.modelDir)
    // The backbone's layers with weights (its ImageNet top is not part of the trained model).
    const inModel = new Set(final.model.layers.map((l) => l.name))
    const withWeights = original.model.layers.filter((l) => l.getWeights().length > 0 && inModel.has(l.name)).map((l) => l.name)
    expect(withWeights.length).toBeGreaterThan(50)
    const cut = original.model.layers.findIndex((l) => l.name === FROZEN_UP_TO)
    const frozen = withWeights.filter((name) => original.model.layers.findIndex((l) => l.name === name) <= cut)
    const unfrozen = withWeights.filter((name) => !frozen.includes(name))
    expect(unfrozen).toEqual(expect.arrayContaining(['conv_dw_13', 'conv_pw_13']))
    const start = layerWeights(original.model, withWeights)
    const middle = layerWeights(phase1.model, withWeights)
    const end = layerWeights(final.model, withWeights)
    for (const name of frozen) expect(same(end.get(name)!, start.get(name)!), name).toBe(true)
    for (const name of unfrozen) expect(same(middle.get(name)!, start.get(name)!), `${name} after phase 1`).toBe(true)
    for (const name of ['conv_dw_13', 'conv_pw_13']) expect(same(end.get(name)!, start.get(name)!), `${name} after phase 2`).toBe(false)
    // The head trained in phase 1.
    expect(same(layerWeights(phase1.model, ['predictions']).get('predictions')!, layerWeights(final.model, ['predictions']).get('predictions')!)).toBe(false)
    for (const m of [original.model, phase1.model, final.model]) m.dispose()
  })

  it("a Stop as phase 2 computes its features keeps phase 1's model, and the run resumes into phase 2", async () => {
    const controller = new AbortController()
    const first = await run(twoPhase, { signal: controller.signal, onEvent: (e) => e.event === 'phase' && controller.abort() })
    expect(first.result).toMatchObject({ stopped: 'stopped', savedEpoch: 1 })
    expect(first.result.history.map((h) => h.phase)).toEqual([1])
    const saved = await loadModel(first.result.modelDir)
    expect(saved.metadata).toMatchObject({ savedEpoch: 1, metrics: { val_acc: first.result.history[0].val_acc, epochs: 1 } })
    saved.model.dispose()
    const resumed = await run({ resume: first.result.runDir })
    expect(resumed.events).toContainEqual(expect.objectContaining({ event: 'phase', phase: 2, epoch: 2 }))
    expect(resumed.result.history.map((h) => [h.epoch, h.phase])).toEqual([
      [1, 1],
      [2, 2]
    ])
  })

  it('a run stopped in phase 2 resumes there and ends as an unbroken one does', async () => {
    const settings = { ...twoPhase, epochs: 3 }
    const unbroken = await run(settings)
    const controller = new AbortController()
    const first = await run(settings, { signal: controller.signal, onEvent: (e) => e.event === 'epoch' && e.epoch === 2 && controller.abort() })
    expect(first.result.history.map((h) => h.phase)).toEqual([1, 2])
    const resumed = await run({ resume: first.result.runDir })
    expect(resumed.events).toContainEqual(expect.objectContaining({ event: 'phase', phase: 2, epoch: 2 }))
    expect(resumed.result.history.map((h) => [h.epoch, h.phase])).toEqual([
      [1, 1],
      [2, 2],
      [3, 2]
    ])
    resumed.result.history.forEach((m, i) => {
      for (const key of ['loss', 'acc', 'val_loss', 'val_acc'] as const) expect(Math.abs(m[key]! - unbroken.result.history[i][key]!)).toBeLessThan(1e-5)
    })
  })
})
