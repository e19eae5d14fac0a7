import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import type { EpochMetrics, TrainConfigInput, TrainEvent } from '../../../src/shared/protocol'
import { loadBackbone } from '../../../src/engine/backbones/load'
import { CIFAR_RECORD_BYTES } from '../../../src/engine/datasets/cifar'
import { loadModel, readMetadata } from '../../../src/engine/model/store'
import { runLayout } from '../../../src/engine/train/run-layout'
import { resumeRun, train, type TrainOptions } from '../../../src/engine/train/trainer'
import { DATA, linkTree, tempDir, trainConfig, trainingSetup } from '../../helpers'

const env = trainingSetup()

const mini = (name: string) => path.join(DATA, 'mini', name)

async function run(config: TrainConfigInput, extra: Partial<TrainOptions> = {}) {
  const events: TrainEvent[] = []
  const result = await train(trainConfig(config), {
    home: env.home,
    mirror: env.mirror,
    ...extra,
    onEvent: (event) => {
      events.push(event)
      extra.onEvent?.(event)
    }
  })
  const epochs = events.filter((e): e is Extract<TrainEvent, { event: 'epoch' }> => e.event === 'epoch')
  return { result, events, epochs }
}

const metricsOf = (history: EpochMetrics[]) => history.map(({ seconds: _s, ...m }) => m)

function expectClose(a: EpochMetrics[], b: EpochMetrics[], tolerance: number) {
  expect(a.length).toBe(b.length)
  a.forEach((m, i) => {
    for (const key of ['loss', 'acc', 'val_loss', 'val_acc'] as const) {
      expect(Math.abs((m[key] ?? 0) - (b[i][key] ?? 0))).toBeLessThanOrEqual(tolerance)
    }
  })
}

describe('training with real weights and real images', () => {
  it('hymenoptera, MobileNet 0.75, frozen backbone, 10 epochs: val accuracy at least 0.88', async () => {
    const { result, events, epochs } = await run({ data: path.join(DATA, 'hymenoptera'), backbone: 'mobilenet_v1_0.75_224', epochs: 10 })
    expect(events.find((e) => e.event === 'path')).toMatchObject({ path: 'cached-features' })
    // Features come from onnxruntime's native kernels (the fallback for any model it cannot run is tested with the exporter).
    expect(events).toContainEqual({ event: 'notice', message: expect.stringMatching(/^Frozen layers \(up to head_pool\) run on onnxruntime-node/) })
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(result.valAcc).toBeGreaterThanOrEqual(0.88)
    expect(events.at(-1)).toMatchObject({ event: 'done', val_acc: result.valAcc, test_acc: null, model: result.modelDir, epochs: 10 })
  })

  it('mini/weather (4 classes) and mini/alien-vs-predator (2 classes) train well above chance', async () => {
    const weather = await run({ data: mini('weather'), backbone: 'mobilenet_v1_0.75_224', epochs: 15, learningRate: 0.005 })
    expect(weather.result.valAcc).toBeGreaterThanOrEqual(0.6)
    const avp = await run({ data: mini('alien-vs-predator'), backbone: 'mobilenet_v1_0.75_224', epochs: 15, learningRate: 0.005 })
    expect(avp.result.valAcc).toBeGreaterThanOrEqual(0.8)
  })

  it('trains on CIFAR-10 binary batches through the upsampling input', async () => {
    const dir = tempDir()
    const source = path.join(DATA, 'cifar10-bin-subset')
    fs.copyFileSync(path.join(source, 'batches.meta.txt'), path.join(dir, 'batches.meta.txt'))
    fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), fs.readFileSync(path.join(source, 'data_batch_1.bin')).subarray(0, 500 * CIFAR_RECORD_BYTES))
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), fs.readFileSync(path.join(source, 'test_batch.bin')).subarray(0, 200 * CIFAR_RECORD_BYTES))
    const { result } = await run({ data: dir, backbone: 'mobilenet_v1_0.25_224', epochs: 8, learningRate: 0.005 })
    const { model, metadata } = await loadModel(result.modelDir)
    expect(model.inputs[0].shape).toEqual([null, 32, 32, 3])
    expect(model.getLayer('upsample').outputShape).toEqual([null, 224, 224, 3])
    expect(metadata.inputSize).toBe(32)
    expect(metadata.labels).toHaveLength(10)
    model.dispose()
    // Ten classes: chance is 0.1.
    expect(result.valAcc).toBeGreaterThan(0.25)
    expect(result.testAcc).toBeGreaterThan(0.25)
  })
})

describe('frozen layers stay exactly as loaded', () => {
  async function loadedWeights(backbone: string) {
    const { model } = await loadBackbone(backbone, { home: env.home, mirror: env.mirror })
    const weights = new Map(model.layers.flatMap((l) => l.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())] as const)))
    model.dispose()
    return weights
  }

  async function savedWeights(modelDir: string) {
    const { model } = await loadModel(modelDir)
    const weights = new Map(model.layers.flatMap((l) => l.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())] as const)))
    model.dispose()
    return weights
  }

  it('after end-to-end training with a frozen backbone, every backbone weight and BN statistic is bit-identical', async () => {
    const { result } = await run({ data: mini('weather'), backbone: 'mobilenet_v1_0.25_224', epochs: 2, cacheFeatures: false })
    expect(result.path).toBe('end-to-end')
    const before = await loadedWeights('mobilenet_v1_0.25_224')
    const after = await savedWeights(result.modelDir)
    let compared = 0
    for (const [name, values] of after) {
      if (name.startsWith('head_') || name.startsWith('predictions')) continue
      expect(values, name).toEqual(before.get(name))
      compared++
    }
    expect(compared).toBe(137 - 2)
  })

  it('a frozen BatchNormalization inside the trained graph keeps its moving statistics (TF2 semantics)', async () => {
    // Only conv_pw_13 trains: the frozen conv_pw_13_bn after it runs in training mode every step,
    // which TensorFlow.js alone would honour by normalising with batch statistics and updating them.
    // (Few images: convolution gradients on the JavaScript cpu backend are slow.)
    const { model } = await loadBackbone('mobilenet_v1_0.25_224', { home: env.home, mirror: env.mirror })
    const backboneLayers = model.layers.map((l) => l.name).slice(1)
    model.dispose()
    const frozen = backboneLayers.slice(0, backboneLayers.indexOf('conv_pw_13_relu') + 1).filter((n) => n !== 'conv_pw_13')
    const images = (c: string) =>
      fs
        .readdirSync(path.join(mini('weather'), 'train', c))
        .slice(0, 4)
        .map((f) => [`${c}/${f}`, path.join(mini('weather'), 'train', c, f)])
    const data = linkTree(Object.fromEntries([...images('cloudy'), ...images('rain')]))
    const { result, events } = await run({
      data,
      backbone: 'mobilenet_v1_0.25_224',
      epochs: 1,
      batchSize: 3,
      valSplit: 0.25,
      freeze: { kind: 'layers', frozen }
    })
    expect(events.find((e) => e.event === 'path')).toMatchObject({ reason: expect.stringContaining('layers up to conv_dw_13_relu are frozen') })
    const before = await loadedWeights('mobilenet_v1_0.25_224')
    const after = await savedWeights(result.modelDir)
    expect(after.get('conv_pw_13/kernel')).not.toEqual(before.get('conv_pw_13/kernel'))
    for (const weight of ['moving_mean', 'moving_variance', 'gamma', 'beta']) {
      expect(after.get(`conv_pw_13_bn/${weight}`), weight).toEqual(before.get(`conv_pw_13_bn/${weight}`))
    }
  })

  it('(control) TensorFlow.js on its own updates a frozen BatchNormalization layer in training mode', () => {
    const bn = tf.layers.batchNormalization({ inputShape: [3] })
    bn.apply(tf.input({ shape: [3] }))
    bn.trainable = false
    const before = Array.from(bn.getWeights()[2].dataSync())
    bn.apply(
      tf.tensor2d([
        [5, 6, 7],
        [1, 2, 3]
      ]),
      { training: true }
    )
    expect(Array.from(bn.getWeights()[2].dataSync())).not.toEqual(before)
  })
})

describe('training paths, seeds and callbacks', () => {
  const config: TrainConfigInput = {
    data: mini('hymenoptera'),
    backbone: 'mobilenet_v1_0.25_224',
    epochs: 3,
    batchSize: 8,
    learningRate: 0.005,
    head: { pooling: 'avg', dropout: 0, dense: [{ units: 16, activation: 'relu', batchNorm: true, dropout: 0.3 }] }
  }

  it('cached features and end-to-end give the same result for the same seed', async () => {
    const cached = await run(config)
    const streamed = await run({ ...config, cacheFeatures: false })
    expect(cached.result.path).toBe('cached-features')
    expect(streamed.result.path).toBe('end-to-end')
    expectClose(cached.result.history, streamed.result.history, 1e-4)
  })

  it('the same seed, data and backend give the same metrics; another seed does not', async () => {
    const a = await run(config)
    const b = await run(config)
    const c = await run({ ...config, seed: 43 })
    expect(metricsOf(a.result.history)).toEqual(metricsOf(b.result.history))
    expect(metricsOf(a.result.history)).not.toEqual(metricsOf(c.result.history))
  })

  it('keeps the number of live tensors flat across epochs, on both paths', async () => {
    for (const cacheFeatures of [true, false]) {
      const counts: number[] = []
      await run({ ...config, epochs: 4, cacheFeatures }, { onEvent: (e) => e.event === 'epoch' && counts.push(tf.memory().numTensors) })
      expect(new Set(counts.slice(1)).size, `cacheFeatures ${cacheFeatures}: ${counts}`).toBe(1)
    }
  })

  it('early stopping stops, restores the best weights, and the checkpoint holds the best epoch', async () => {
    const { result, events, epochs } = await run({
      data: mini('weather'),
      backbone: 'mobilenet_v1_0.25_224',
      epochs: 30,
      learningRate: 0.05,
      earlyStopping: { monitor: 'val_acc', patience: 2, restoreBest: true }
    })
    expect(result.stopped).toBe('early-stopping')
    expect(epochs.length).toBeLessThan(30)
    const best = Math.max(...epochs.map((e) => e.val_acc!))
    const bestEpoch = epochs.find((e) => e.val_acc === best)!.epoch
    expect(epochs.at(-1)!.epoch).toBe(bestEpoch + 2)
    expect(result.valAcc).toBe(best)
    expect(events.some((e) => e.event === 'notice' && e.message.startsWith(`Early stopping after epoch ${bestEpoch + 2}`))).toBe(true)
    const checkpoint = await readMetadata(runLayout(result.runDir).checkpoint)
    expect(checkpoint.metrics.epochs).toBe(bestEpoch)
    expect(checkpoint.metrics.val_acc).toBe(best)
  })

  it('reduces the learning rate on a plateau', async () => {
    const { epochs, events } = await run({
      data: mini('weather'),
      backbone: 'mobilenet_v1_0.25_224',
      epochs: 12,
      learningRate: 0.05,
      reduceLrOnPlateau: { monitor: 'val_loss', factor: 0.5, patience: 1, minLr: 0 }
    })
    const rates = epochs.map((e) => e.lr)
    expect(rates[0]).toBe(0.05)
    expect(Math.min(...rates)).toBeLessThan(0.05)
    expect(events.some((e) => e.event === 'notice' && /learning rate reduced to 0.025/.test(e.message))).toBe(true)
  })

  it('stops when asked, keeping the best model so far, and resumes to the same result as an unbroken run', async () => {
    const settings = { ...config, epochs: 4 }
    const unbroken = await run(settings)
    const controller = new AbortController()
    const first = await run(settings, { signal: controller.signal, onEvent: (e) => e.event === 'epoch' && e.epoch === 2 && controller.abort() })
    expect(first.result.stopped).toBe('stopped')
    expect(first.result.history).toHaveLength(2)
    expect(fs.existsSync(path.join(first.result.modelDir, 'model.json'))).toBe(true)
    const resumed = await resumeRun(first.result.runDir, { home: env.home, mirror: env.mirror })
    expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4])
    expectClose(resumed.history, unbroken.result.history, 1e-5)
  })

  it('trains end to end with augmentation, reproducibly', async () => {
    const augmented = { ...config, epochs: 2, augment: { flipHorizontal: true, rotate: 15, zoom: 0.1, shear: 5, brightness: 0.1 } }
    const a = await run(augmented)
    const b = await run(augmented)
    expect(a.events.find((e) => e.event === 'path')).toMatchObject({ path: 'end-to-end', reason: expect.stringContaining('augmentation') })
    expect(metricsOf(a.result.history)).toEqual(metricsOf(b.result.history))
  })

  it('skips a broken image with its reason and trains on the rest', async () => {
    const good = (c: string) =>
      Object.fromEntries(
        fs
          .readdirSync(path.join(mini('weather'), 'train', c))
          .slice(0, 6)
          .map((f) => [`${c}/${f}`, path.join(mini('weather'), 'train', c, f)])
      )
    const data = linkTree({ ...good('cloudy'), ...good('rain') })
    const whole = fs.readFileSync(path.join(mini('weather'), 'train', 'rain', fs.readdirSync(path.join(mini('weather'), 'train', 'rain'))[0]))
    const broken = path.join(data, 'rain', 'half.jpg')
    fs.writeFileSync(broken, whole.subarray(0, whole.length >> 1))
    const { result, events } = await run({ data, backbone: 'mobilenet_v1_0.25_224', epochs: 2, valSplit: 0.25 })
    expect(events.filter((e) => e.event === 'skipped')).toEqual([{ event: 'skipped', file: broken, reason: 'file is truncated (incomplete image data)' }])
    expect(result.history).toHaveLength(2)
  })
})

describe('saved models', () => {
  it('reload and predict exactly as the trained model, and load in plain TensorFlow.js', async () => {
    const { result } = await run({ data: mini('weather'), backbone: 'mobilenet_v1_0.25_224', epochs: 2 }, { keepModel: true })
    const { model, metadata } = await loadModel(result.modelDir)
    expect(metadata).toMatchObject({
      format: 'transfer-studio-model',
      labels: ['cloudy', 'rain', 'shine', 'sunrise'],
      backbone: 'mobilenet_v1_0.25_224',
      preprocess: 'tf',
      inputSize: 224,
      freeze: { kind: 'all' },
      metrics: { epochs: 2, val_acc: result.valAcc }
    })
    expect(metadata.frozenLayers).toContain('conv_pw_13_bn')
    const input = tf.randomUniform([3, 224, 224, 3], -1, 1, 'float32', 5)
    const trained = result.model!.model.predict(input) as tf.Tensor
    const reloaded = model.predict(input) as tf.Tensor
    expect(Array.from(await reloaded.data())).toEqual(Array.from(await trained.data()))

    // What any TensorFlow.js program does with the two files.
    const json = JSON.parse(fs.readFileSync(path.join(result.modelDir, 'model.json'), 'utf8'))
    // The weights come as two files (the frozen layers' shared with other runs, then the rest): read in the manifest's order.
    const groups = json.weightsManifest as Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>
    const paths = groups.flatMap((g) => g.paths)
    expect(paths).toEqual(['frozen.bin', 'weights.bin'])
    const weights = Buffer.concat(paths.map((p) => fs.readFileSync(path.join(result.modelDir, p))))
    const plain = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: groups.flatMap((g) => g.weights), weightData: new Uint8Array(weights).buffer })
    )
    expect(plain.getLayer('conv_pw_13_bn').getClassName()).toBe('BatchNormalization')
    expect(Array.from(await (plain.predict(input) as tf.Tensor).data())).toEqual(Array.from(await trained.data()))
    tf.dispose([input, trained, reloaded])
    plain.dispose()
    model.dispose()
    result.model!.model.dispose()
  })
})
