// Two runs that froze the same backbone layers keep one copy of those weights: each model folder's
// frozen.bin is a hard link to one content-addressed file in the studio home, and each folder is
// still a plain TensorFlow.js layers model that tf.loadLayersModel reads (over HTTP, resolving the
// manifest's two paths itself) and that predicts exactly as the model did before saving.
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend'
import { loadBackbone, type LoadedBackbone } from '../../../src/engine/backbones/load'
import { buildTransferModel, type TransferModel } from '../../../src/engine/model/build'
import { applyFreeze, frozenLayers } from '../../../src/engine/model/freeze'
import { pruneSharedWeights, sharedWeightsDir } from '../../../src/engine/model/shared-weights'
import { FROZEN_FILE, loadModel, saveModel, WEIGHTS_FILE } from '../../../src/engine/model/store'
import { HeadConfig, type ModelMetadata } from '../../../src/shared/protocol'
import { tempDir, weightsMirror } from '../../helpers'

let loaded: LoadedBackbone
const models: TransferModel[] = []
let home: string
let images: tf.Tensor4D

beforeAll(async () => {
  await initBackend()
  home = tempDir()
  loaded = await loadBackbone('mobilenet_v1_0.25_224', { home, mirror: weightsMirror() })
  // Two "runs": the same backbone frozen the same way, heads initialised differently (different seeds).
  for (const seed of [1, 2]) {
    const tm = buildTransferModel(loaded, { classes: ['ants', 'bees'], head: HeadConfig.parse({ init: 'keras' }), inputSize: 224, seed })
    applyFreeze(tm, { kind: 'all' })
    models.push(tm)
  }
  images = tf.randomUniform([3, 224, 224, 3], 0, 255, 'float32', 7) as tf.Tensor4D
})

afterAll(() => {
  for (const tm of models) tm.model.dispose()
  loaded.model.dispose()
  images.dispose()
})

function metadataOf(tm: TransferModel): Omit<ModelMetadata, 'files'> {
  // As the trainer writes it for a model not trained yet.
  return {
    format: 'transfer-studio-model',
    formatVersion: 1,
    appVersion: 'test',
    createdAt: new Date().toISOString(),
    labels: tm.classes,
    backbone: tm.backbone.id,
    preprocess: tm.backbone.preprocess,
    inputSize: tm.inputSize,
    head: tm.head,
    freeze: { kind: 'all' },
    frozenLayers: frozenLayers(tm),
    training: null,
    metrics: { loss: null, acc: null, val_loss: null, val_acc: null, test_acc: null, epochs: 0 }
  }
}

/** tf.loadLayersModel on model.json served over HTTP: TensorFlow.js fetches every path of the manifest itself. */
async function loadOverHttp(dir: string): Promise<tf.LayersModel> {
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.basename(decodeURIComponent(req.url ?? '')))
    if (!fs.existsSync(file)) return void res.writeHead(404).end()
    res.writeHead(200).end(fs.readFileSync(file))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    return await tf.loadLayersModel(`http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`)
  } finally {
    server.close()
  }
}

const predict = (model: tf.LayersModel): Float32Array => tf.tidy(() => (model.predict(images) as tf.Tensor).dataSync() as Float32Array)

describe('frozen backbone weights shared between runs', () => {
  it('two runs link one frozen file; both load with tf.loadLayersModel and predict as before saving', async () => {
    const store = sharedWeightsDir(home)
    const dirs = [path.join(home, 'runs', 'a', 'model'), path.join(home, 'runs', 'b', 'model')]
    for (const [i, tm] of models.entries()) await saveModel(tm.model, metadataOf(tm), dirs[i], { sharedWeights: store })

    const [a, b] = dirs.map((dir) => fs.statSync(path.join(dir, FROZEN_FILE)))
    const stored = fs.readdirSync(store)
    expect(stored).toHaveLength(1)
    const shared = fs.statSync(path.join(store, stored[0]))
    expect(a.ino).toBe(shared.ino)
    expect(b.ino).toBe(shared.ino)
    expect(shared.nlink).toBe(3)
    // The frozen file holds the backbone's weights (most of the model); weights.bin only the head.
    expect(shared.size).toBeGreaterThan(800_000)
    expect(fs.statSync(path.join(dirs[0], WEIGHTS_FILE)).size).toBe((256 * 2 + 2) * 4)
    const manifest = JSON.parse(fs.readFileSync(path.join(dirs[0], 'model.json'), 'utf8')).weightsManifest
    expect(manifest.map((g: { paths: string[] }) => g.paths)).toEqual([[FROZEN_FILE], [WEIGHTS_FILE]])

    for (const [i, tm] of models.entries()) {
      const before = predict(tm.model)
      const plain = await loadOverHttp(dirs[i])
      expect(predict(plain)).toEqual(before)
      plain.dispose()
      const ours = await loadModel(dirs[i])
      expect(predict(ours.model)).toEqual(before)
      ours.model.dispose()
    }
    // The two heads differ, so the test would see a model loaded with the other's weights.
    expect(predict(models[0].model)).not.toEqual(predict(models[1].model))

    // Deleting one run leaves the other whole; the shared file goes once nothing links to it.
    fs.rmSync(path.join(home, 'runs', 'a'), { recursive: true })
    const remaining = await loadModel(dirs[1])
    expect(predict(remaining.model)).toEqual(predict(models[1].model))
    remaining.model.dispose()
    const later = Date.now() + 3600_000
    expect(await pruneSharedWeights(store, later)).toBe(0)
    expect(fs.readdirSync(store)).toHaveLength(1)
    fs.rmSync(path.join(home, 'runs', 'b'), { recursive: true })
    expect(await pruneSharedWeights(store)).toBe(0) // unlinked just now: left for a while
    expect(await pruneSharedWeights(store, later)).toBe(shared.size)
    expect(fs.readdirSync(store)).toEqual([])
  })

  it('where a hard link cannot be made (another device), the model gets its own copy', async () => {
    // /dev/shm is a tmpfs: a link from the studio home's disk to it fails with EXDEV.
    const store = fs.mkdtempSync('/dev/shm/ts-shared-')
    const dir = path.join(tempDir(), 'model')
    try {
      await saveModel(models[0].model, metadataOf(models[0]), dir, { sharedWeights: store })
      const own = fs.statSync(path.join(dir, FROZEN_FILE))
      const shared = fs.statSync(path.join(store, fs.readdirSync(store)[0]))
      expect(own.dev).not.toBe(shared.dev)
      expect(own.nlink).toBe(1)
      const { model } = await loadModel(dir)
      expect(predict(model)).toEqual(predict(models[0].model))
      model.dispose()
    } finally {
      fs.rmSync(store, { recursive: true, force: true })
    }
  })

  it('without a shared folder a model is one weights file, as before', async () => {
    const dir = path.join(tempDir(), 'model')
    await saveModel(models[1].model, metadataOf(models[1]), dir)
    expect(fs.readdirSync(dir).sort()).toEqual(['metadata.json', 'model.json', 'weights.bin'])
    const plain = await loadOverHttp(dir)
    expect(predict(plain)).toEqual(predict(models[1].model))
    plain.dispose()
  })
})
