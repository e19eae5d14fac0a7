import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend'
import { findLearningRate, suggestLearningRate } from '../../../src/engine/train/lr-finder'
import { train } from '../../../src/engine/train/trainer'
import { FeatureMemo } from '../../../src/engine/train/features'
import { DATA, tempDir, trainConfig, weightsMirror } from '../../helpers'

let mirror: string
beforeAll(async () => {
  await initBackend()
  mirror = weightsMirror()
})

const weather = path.join(DATA, 'mini', 'weather')

describe('suggestLearningRate', () => {
  it('picks the rate where the loss falls fastest against log(lr), before its minimum', () => {
    const lrs = Array.from({ length: 61 }, (_, i) => 1e-6 * 10 ** (i / 10))
    // A smooth valley in log10(lr): falls fastest at lr = 1e-3 (the logistic's midpoint), lowest near 1e-1, then climbs.
    const losses = lrs.map((lr) => {
      const x = Math.log10(lr)
      return 2 - 1.5 / (1 + Math.exp(-4 * (x + 3))) + (x > -1 ? (x + 1) ** 2 : 0)
    })
    const suggestion = suggestLearningRate(lrs, losses)!
    expect(Math.log10(suggestion)).toBeCloseTo(-3, 1)
  })

  it('suggests nothing when the loss never falls', () => {
    const lrs = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1]
    expect(suggestLearningRate(lrs, [1, 1.1, 1.2, 1.5, 2, 4])).toBeNull()
    expect(suggestLearningRate(lrs.slice(0, 3), [1, 0.9, 0.8])).toBeNull()
  })
})

describe('findLearningRate', () => {
  it('runs a rising rate on real features, suggests a rate, and leaves no run or model behind', async () => {
    const home = tempDir()
    const tensorsBefore = tf.memory().numTensors
    // What an engine session keeps between commands.
    const features = new FeatureMemo()
    const result = await findLearningRate(trainConfig({ data: weather, backbone: 'mobilenet_v1_0.25_224', seed: 3 }), { home, mirror, steps: 60, features })
    expect(result.lrs.length).toBeGreaterThan(20)
    expect(result.lrs[0]).toBeCloseTo(1e-7, 12)
    for (let i = 1; i < result.lrs.length; i++) expect(result.lrs[i]).toBeGreaterThan(result.lrs[i - 1])
    // The classifier starts at zero: even odds over four classes, a loss of ln 4, before any rate has done anything.
    expect(result.losses[0]).toBeCloseTo(Math.log(4), 3)
    expect(Math.min(...result.losses)).toBeLessThan(Math.log(4) * 0.8)
    expect(result.suggestion).not.toBeNull()
    expect(result.suggestion!).toBeGreaterThan(1e-5)
    expect(result.suggestion!).toBeLessThan(1)
    expect(fs.existsSync(path.join(home, 'runs'))).toBe(false)
    expect(tf.memory().numTensors).toBe(tensorsBefore)

    // The features it computed are the training run's: that run extracts nothing again.
    const phases: string[] = []
    await train(trainConfig({ data: weather, backbone: 'mobilenet_v1_0.25_224', seed: 3, epochs: 1, learningRate: result.suggestion! }), {
      home,
      mirror,
      features,
      onEvent: (e) => void (e.event === 'status' && e.phase === 'extracting' && e.total && phases.push(e.message))
    })
    expect(phases).toEqual([])
  })
})
