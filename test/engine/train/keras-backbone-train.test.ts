// A Keras backbone the whole way through training: its .h5 fetched from the weights mirror and
// converted, frozen up to one of its blocks, its frozen prefix on onnxruntime, a head trained and
// the model saved with the backbone's preprocessing. The official file cannot be downloaded here:
// the mirror holds a Keras-layout file with random weights, and the registry entry is pointed at
// that file's size and MD5 for this test process only.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { TrainEvent } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import type { Architecture } from '../../../src/engine/backbones/applications'
import { backboneSpec } from '../../../src/engine/backbones/registry'
import { predictWithModel } from '../../../src/engine/inference/saved-model'
import { exportKerasModel } from '../../../src/engine/keras/model-io'
import { loadModel } from '../../../src/engine/model/store'
import { train } from '../../../src/engine/train/trainer'
import { DATA, PHOTOS, tempDir, trainConfig } from '../../helpers'
import { fixtureMirror, sharedFixture } from '../backbones/keras-h5-fixture'

const ID = 'mobilenet_v2_1.0_224'
let mirror: string

beforeAll(async () => {
  await initBackend()
  const { file } = await sharedFixture('mobilenet_v2_1_0_224', false)
  const fixture = fixtureMirror(backboneSpec(ID), file, false, tempDir())
  mirror = fixture.mirror
  Object.assign(backboneSpec(ID).keras!, { notop: fixture.spec.keras!.notop })
})

describe('training on a Keras backbone', () => {
  it('MobileNetV2: download, convert, freeze up to Conv_1, frozen prefix on onnxruntime, train, save', async () => {
    const home = tempDir()
    const events: TrainEvent[] = []
    const result = await train(trainConfig({ data: path.join(DATA, 'mini', 'weather'), backbone: ID, epochs: 2, freeze: { kind: 'upTo', layer: 'Conv_1' } }), {
      home,
      mirror,
      onEvent: (e) => events.push(e)
    })
    expect(events).toContainEqual(expect.objectContaining({ event: 'status', message: `Downloading ${ID}` }))
    expect(events.find((e) => e.event === 'path')).toMatchObject({ path: 'cached-features' })
    expect(events).toContainEqual({ event: 'notice', message: expect.stringMatching(/^Frozen layers \(up to Conv_1\) run on onnxruntime-node/) })
    expect(result.history).toHaveLength(2)
    expect(Number.isFinite(result.history[1].loss)).toBe(true)
    const { model, metadata } = await loadModel(result.modelDir)
    expect(metadata).toMatchObject({ backbone: ID, preprocess: 'tf', inputSize: 224, labels: ['cloudy', 'rain', 'shine', 'sunrise'] })
    expect(model.layers.map((l) => l.name)).toEqual(expect.arrayContaining(['Conv1_pad', 'block_14_add', 'block_15_project_BN', 'out_relu']))
    model.dispose()
  })
})

// The seeds' other backbones the same way, each frozen at one of its natural blocks, then the
// saved model classifies a photo and goes out as a Keras .h5: what the app and the CLI do with them.
const KERAS_H5 = path.join(import.meta.dirname, '..', 'keras', 'keras_h5.py')
const SEEDS: Array<{ id: string; architecture: Architecture; freezeTo: string; preprocess: string; trains: string; frozen: string }> = [
  {
    id: 'densenet121',
    architecture: 'densenet121',
    freezeTo: 'conv5_block15_concat',
    preprocess: 'torch',
    trains: 'conv5_block16_1_conv',
    frozen: 'conv5_block15_2_conv'
  },
  {
    id: 'densenet201',
    architecture: 'densenet201',
    freezeTo: 'conv5_block31_concat',
    preprocess: 'torch',
    trains: 'conv5_block32_1_conv',
    frozen: 'conv5_block31_2_conv'
  },
  { id: 'vgg16', architecture: 'vgg16', freezeTo: 'block5_conv2', preprocess: 'caffe', trains: 'block5_conv3', frozen: 'block5_conv2' }
]

describe.each(SEEDS)('training on $id', (seed) => {
  let seedMirror: string
  beforeAll(async () => {
    const { file } = await sharedFixture(seed.architecture, false)
    const fixture = fixtureMirror(backboneSpec(seed.id), file, false, tempDir())
    seedMirror = fixture.mirror
    Object.assign(backboneSpec(seed.id).keras!, { notop: fixture.spec.keras!.notop })
  }, 600_000)

  it(`downloads, converts, freezes up to ${seed.freezeTo}, trains, saves, classifies, exports .h5`, async () => {
    const events: TrainEvent[] = []
    const result = await train(
      trainConfig({ data: path.join(DATA, 'mini', 'hymenoptera'), backbone: seed.id, epochs: 1, freeze: { kind: 'upTo', layer: seed.freezeTo } }),
      { home: tempDir(), mirror: seedMirror, onEvent: (e) => events.push(e) }
    )
    expect(events).toContainEqual(expect.objectContaining({ event: 'status', message: `Downloading ${seed.id}` }))
    expect(result.history).toHaveLength(1)
    expect(Number.isFinite(result.history[0].loss)).toBe(true)
    const { model, metadata } = await loadModel(result.modelDir)
    expect(metadata).toMatchObject({ backbone: seed.id, preprocess: seed.preprocess, inputSize: 224, labels: ['ants', 'bees'] })
    expect(metadata.frozenLayers).toContain(seed.frozen)
    expect(metadata.frozenLayers).not.toContain(seed.trains)
    model.dispose()

    const [prediction] = await predictWithModel(result.modelDir, [path.join(PHOTOS, 'chelsea.png')])
    expect('predictions' in prediction && prediction.predictions.map((p) => p.label).sort()).toEqual(['ants', 'bees'])
    const file = await exportKerasModel(result.modelDir, path.join(tempDir(), `${seed.id}.h5`))
    // h5py opens every layer's group and weight the way Keras' loader does (DenseNet's names
    // hold slashes: nested groups in the file).
    const check = spawnSync('/usr/bin/python3', [KERAS_H5, 'layout', file], { encoding: 'utf8' })
    expect(check.stderr).toBe('')
    const layout = JSON.parse(check.stdout) as { layer_names: string[]; layers: Record<string, { weights: unknown[] }> }
    expect(layout.layer_names).toEqual(expect.arrayContaining([seed.frozen, seed.trains]))
    expect(layout.layers[seed.trains].weights.length).toBeGreaterThan(0)
  }, 1_200_000)
})
