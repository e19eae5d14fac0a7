// Bad input and damaged files: each gets a specific message naming the file or folder, and the
// rest of the work carries on where it can.
import fs from 'node:fs'
import path from 'node:path'
import { crc32, deflateSync } from 'node:zlib'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import type { TrainConfigInput, TrainEvent } from '../../src/shared/protocol'
import { loadDataset } from '../../src/engine/datasets/scan'
import { decodeImage } from '../../src/engine/images/decode'
import { loadModel } from '../../src/engine/model/store'
import { train, type TrainOptions } from '../../src/engine/train/trainer'
import { DATA, linkTree, tempDir, trainConfig, trainingSetup } from '../helpers'

const env = trainingSetup()

const weather = path.join(DATA, 'mini', 'weather')
const some = (split: string, cls: string, n: number, prefix = cls) =>
  fs
    .readdirSync(path.join(weather, split, cls))
    .slice(0, n)
    .map((f, i) => [`${prefix}/${i}.jpg`, path.join(weather, split, cls, f)] as const)

async function run(config: TrainConfigInput, extra: Partial<TrainOptions> = {}) {
  const events: TrainEvent[] = []
  const result = await train(trainConfig(config), { home: env.home, mirror: env.mirror, ...extra, onEvent: (e) => (events.push(e), extra.onEvent?.(e)) })
  return { result, events }
}

/** A real PNG header claiming width x height, with no pixel data behind it. */
function hugePng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type), data])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(body))
    return Buffer.concat([length, body, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  const pixels = chunk('IDAT', deflateSync(Buffer.alloc(64)))
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'binary'), chunk('IHDR', ihdr), pixels, chunk('IEND', Buffer.alloc(0))])
}

describe('bad input', () => {
  it('reports byte-identical images, and those across train and validation (alien-vs-predator)', async () => {
    const { report } = await loadDataset(path.join(DATA, 'alien-vs-predator'))
    expect(report.duplicates).toHaveLength(4)
    const across = report.duplicates.filter((d) => d.splits.length > 1)
    expect(across.map((d) => d.files.map((f) => path.relative(report.root, f)))).toEqual([
      ['train/predator/199.jpg', 'validation/predator/1.jpg'],
      ['train/predator/247.jpg', 'validation/predator/58.jpg']
    ])
  })

  it('handles non-ASCII names and spaces in every part of the path', async () => {
    const root = path.join(tempDir(), 'café photos')
    const linked = linkTree(Object.fromEntries([...some('train', 'cloudy', 6, 'nuages gris'), ...some('train', 'shine', 6, 'soleil ☀')]))
    fs.renameSync(linked, root)
    const { report } = await loadDataset(root)
    expect(report.classes).toEqual(['nuages gris', 'soleil ☀'])
    const { result } = await run({ data: root, backbone: 'mobilenet_v1_0.25_224', epochs: 1, valSplit: 0.34 })
    const { metadata } = await loadModel(result.modelDir)
    expect(metadata.labels).toEqual(['nuages gris', 'soleil ☀'])
  })

  it('reports an empty class folder as a class missing from that split', async () => {
    const root = linkTree(
      Object.fromEntries([...some('train', 'cloudy', 4, 'train/cloudy'), ...some('val', 'cloudy', 2, 'val/cloudy'), ...some('val', 'rain', 2, 'val/rain')])
    )
    fs.mkdirSync(path.join(root, 'train', 'rain'))
    const { report } = await loadDataset(root)
    expect(report.missing).toEqual([{ split: 'train', class: 'rain' }])
  })

  it('refuses to train on a single class, saying why', async () => {
    const root = linkTree(Object.fromEntries(some('train', 'cloudy', 6)))
    await expect(run({ data: root, backbone: 'mobilenet_v1_0.25_224', epochs: 1 })).rejects.toThrow(
      'Training needs at least two classes; the dataset has 1 (cloudy)'
    )
  })

  it('refuses an image too large to decode before decoding it', async () => {
    const file = path.join(tempDir(), 'panorama.png')
    fs.writeFileSync(file, hugePng(30_000, 30_000))
    await expect(decodeImage(file, 224)).rejects.toMatchObject({ file, reason: 'image too large to decode (more than 256 megapixels)' })
  })

  it('keeps training when images disappear in the middle of a run', async () => {
    const root = tempDir()
    for (const [rel, source] of [...some('train', 'cloudy', 8), ...some('train', 'rain', 8)]) {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true })
      fs.copyFileSync(source, path.join(root, rel))
    }
    const gone = [path.join(root, 'cloudy', '0.jpg'), path.join(root, 'rain', '1.jpg')]
    const { result, events } = await run(
      // No memory budget: images are read from disk every epoch (as beyond the budget on big datasets).
      { data: root, backbone: 'mobilenet_v1_0.25_224', epochs: 3, batchSize: 4, cacheFeatures: false, featureCacheMB: 0 },
      { onEvent: (e) => e.event === 'epoch' && e.epoch === 1 && gone.forEach((f) => fs.rmSync(f, { force: true })) }
    )
    expect(result.history).toHaveLength(3)
    const skipped = events.filter((e) => e.event === 'skipped')
    expect(skipped.length).toBeGreaterThan(0)
    for (const s of skipped)
      expect(s).toMatchObject({ file: expect.stringMatching(/(cloudy\/0|rain\/1)\.jpg$/), reason: 'file not found (was it moved or deleted?)' })
  })
})

describe('damaged files', () => {
  let modelDir: string
  beforeAll(async () => {
    modelDir = (await run({ data: weather, backbone: 'mobilenet_v1_0.25_224', epochs: 1 })).result.modelDir
  })

  const copy = () => {
    const dir = path.join(tempDir(), 'model')
    fs.cpSync(modelDir, dir, { recursive: true })
    return dir
  }

  it('refuses a model folder missing its weights', async () => {
    const dir = copy()
    fs.rmSync(path.join(dir, 'weights.bin'))
    await expect(loadModel(dir)).rejects.toThrow(`${path.join(dir, 'weights.bin')} is missing: the model folder is incomplete`)
  })

  it('refuses a model whose weights were changed after saving', async () => {
    const dir = copy()
    const weights = fs.readFileSync(path.join(dir, 'weights.bin'))
    weights[weights.length - 5] ^= 0x40
    fs.writeFileSync(path.join(dir, 'weights.bin'), weights)
    await expect(loadModel(dir)).rejects.toThrow(`${path.join(dir, 'weights.bin')} is damaged: it does not match the checksum in metadata.json`)
  })

  it('refuses a model whose classes disagree with its metadata', async () => {
    const dir = copy()
    const metadata = JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8'))
    metadata.labels = ['cloudy', 'rain', 'shine']
    fs.writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify(metadata))
    await expect(loadModel(dir)).rejects.toThrow(`${dir}: the model has 4 outputs but metadata.json names 3 classes`)
  })

  it('detects a damaged feature cache on disk and computes the features again', async () => {
    // Its own copy of the images: features of `weather` may already be in this process's memory.
    const data = linkTree(Object.fromEntries([...some('train', 'cloudy', 6), ...some('train', 'rain', 6)]))
    const config = { data, backbone: 'mobilenet_v1_0.25_224', epochs: 2, featureCacheMB: 0 }
    const cacheHome = tempDir()
    const first = await run(config, { home: cacheHome })
    const cacheDir = path.join(cacheHome, 'cache', 'features')
    const spilled = fs.readdirSync(cacheDir).filter((f) => f.endsWith('.f32'))
    expect(spilled).toHaveLength(2) // train and validation features spilled to disk
    const file = path.join(cacheDir, spilled[0])
    const bytes = fs.readFileSync(file)
    bytes[8] ^= 0xff
    fs.writeFileSync(file, bytes)
    const second = await run(config, { home: cacheHome })
    expect(second.events).toContainEqual({
      event: 'notice',
      message: expect.stringMatching(/^The feature cache .* is damaged \(checksum or size differs\): computing the features again$/)
    })
    expect(second.result.history.map((h) => h.val_loss)).toEqual(first.result.history.map((h) => h.val_loss))
  })
})

describe('memory', () => {
  it('30 epochs keep the tensor count flat and the process memory bounded', async () => {
    const tensors: number[] = []
    const rss: number[] = []
    await run(
      {
        data: weather,
        backbone: 'mobilenet_v1_0.25_224',
        epochs: 30,
        head: { pooling: 'avg', dropout: 0.2, dense: [{ units: 32, activation: 'relu', batchNorm: true, dropout: 0.3 }] }
      },
      {
        onEvent: (e) => {
          if (e.event !== 'epoch') return
          tensors.push(tf.memory().numTensors)
          rss.push(process.memoryUsage().rss)
        }
      }
    )
    expect(new Set(tensors.slice(1)).size).toBe(1)
    // After warming up, twenty more epochs may not grow the process by more than a few megabytes.
    expect(rss[29] - rss[9]).toBeLessThan(32 * 1024 * 1024)
  })
})
