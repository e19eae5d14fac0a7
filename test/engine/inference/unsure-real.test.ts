// The "unsure" mark on a real model: MobileNet v1 0.25 trained on 40 photos of ants and bees keeps
// its training photos' feature statistics, and a cat, a rocket or a coffee cup given to it is marked
// unlike the training photos, while ants and bees it never saw mostly are not.
import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend'
import { decodeImage } from '../../../src/engine/images/decode'
import { preprocess } from '../../../src/engine/inference/preprocess'
import { predictWithModel } from '../../../src/engine/inference/saved-model'
import { loadModel, readMetadata } from '../../../src/engine/model/store'
import { computeFeatureStats } from '../../../src/engine/train/feature-stats'
import { train } from '../../../src/engine/train/trainer'
import type { PredictionResult } from '../../../src/shared/protocol'
import { DATA, PHOTOS, tempDir, trainConfig, weightsMirror } from '../../helpers'

let modelDir: string
let home: string
const heldOut = path.join(DATA, 'hymenoptera', 'val')
const files = (dir: string) =>
  fs
    .readdirSync(dir)
    .sort()
    .map((f) => path.join(dir, f))

beforeAll(async () => {
  await initBackend()
  home = tempDir()
  const result = await train(
    trainConfig({ data: path.join(DATA, 'mini', 'hymenoptera'), backbone: 'mobilenet_v1_0.25_224', epochs: 5, batchSize: 8, seed: 1 }),
    { home, mirror: weightsMirror() }
  )
  modelDir = result.modelDir
}, 300_000)

type Scored = Extract<PredictionResult, { predictions: unknown }>
const scored = (results: PredictionResult[]): Scored[] =>
  results.map((r) => {
    if ('error' in r) throw new Error(`${r.file}: ${r.error}`)
    return r
  })

describe('unsure on photos unlike the training photos', () => {
  it('saves one centroid and one threshold a class, measured on the 40 training photos', async () => {
    const { featureStats, labels } = await readMetadata(modelDir)
    expect(labels).toEqual(['ants', 'bees'])
    expect(featureStats).toMatchObject({ layer: 'head_pool', metric: 'euclidean', percentile: 99, images: 40 })
    // MobileNet v1 0.25 pools 256 channels.
    expect(featureStats!.centroids.map((c) => c.length)).toEqual([256, 256])
  })

  it('marks photos of other things unlike the training photos; held-out ants and bees mostly not', async () => {
    const others = scored(await predictWithModel(modelDir, files(PHOTOS)))
    const ants = scored(await predictWithModel(modelDir, files(path.join(heldOut, 'ants'))))
    const bees = scored(await predictWithModel(modelDir, files(path.join(heldOut, 'bees'))))
    const insects = [...ants, ...bees]
    const far = (r: Scored) => r.unsure?.reason === 'unlike-training'
    const line = (r: Scored) =>
      `${path.basename(r.file)}: ${r.predictions[0].label} ${(r.predictions[0].probability * 100).toFixed(1)} %, novelty ${r.novelty?.toFixed(2)}, ${r.unsure?.reason ?? 'sure'}`
    console.log(['Photos of other things:', ...others.map(line)].join('\n'))
    const insectsFar = insects.filter(far).length
    const insectsUnsure = insects.filter((r) => r.unsure).length
    const sorted = insects.map((r) => r.novelty!).sort((a, b) => a - b)
    console.log(
      `Held-out ants and bees: ${insects.length}; unlike training ${insectsFar}; unsure for any reason ${insectsUnsure}; ` +
        `novelty median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)}, max ${sorted.at(-1)!.toFixed(2)}`
    )
    expect(others.find((r) => r.file.endsWith('chelsea.png'))).toMatchObject({ unsure: { reason: 'unlike-training' } })
    // Measured: all 5 (novelty 1.01 to 1.20), and 13 of the 153 held-out ants and bees.
    expect(others.filter(far).length).toBeGreaterThanOrEqual(4)
    expect(insectsFar / insects.length).toBeLessThan(0.15)
    // The probability alone would not have caught the cat: the softmax gives it 70.7 % bees (measured).
    expect(others.find((r) => r.file.endsWith('chelsea.png'))!.predictions[0].probability).toBeGreaterThan(0.6)
    expect(insects.every((r) => typeof r.novelty === 'number')).toBe(true)
  })
})

describe('feature statistics of a fine-tuned model', () => {
  it('are measured through the unfrozen layers, and agree with the saved model run photo by photo in tfjs', async () => {
    const data = path.join(DATA, 'mini', 'hymenoptera')
    // The last block trains, so the pooled features come out of the trainable suffix, not the cache.
    const result = await train(
      trainConfig({ data, backbone: 'mobilenet_v1_0.25_224', epochs: 1, batchSize: 8, seed: 3, freeze: { kind: 'upTo', layer: 'conv_pw_12_relu' } }),
      { home, mirror: weightsMirror() }
    )
    const { model, metadata } = await loadModel(result.modelDir)
    try {
      const stats = metadata.featureStats!
      expect(stats).toMatchObject({ layer: 'head_pool', images: 40 })
      // Independent path: every training photo through the whole saved model, one at a time, in tfjs.
      const pooled = tf.model({ inputs: model.inputs, outputs: model.getLayer('head_pool').output as tf.SymbolicTensor })
      const rows: Float32Array[] = []
      const labels: number[] = []
      for (const [label, name] of metadata.labels.entries()) {
        for (const file of files(path.join(data, 'train', name))) {
          const image = await decodeImage(file, metadata.inputSize)
          const out = tf.tidy(
            () => pooled.predict(preprocess(tf.tensor4d(image.data, [1, image.height, image.width, 3], 'int32'), metadata.preprocess)) as tf.Tensor
          )
          rows.push((await out.data()) as Float32Array)
          out.dispose()
          labels.push(label)
        }
      }
      const reference = computeFeatureStats(rows, labels, 2, 'head_pool')!
      const worst = (a: number[][], b: number[][]) => Math.max(...a.flatMap((row, i) => row.map((x, j) => Math.abs(x - b[i][j]))))
      expect(worst(stats.centroids, reference.centroids)).toBeLessThan(1e-3)
      stats.thresholds.forEach((t, i) => expect(Math.abs(t - reference.thresholds[i]) / reference.thresholds[i]).toBeLessThan(1e-3))
    } finally {
      model.dispose()
    }
  })
})
