// A Keras backbone the whole way through training: its .h5 fetched from the weights mirror and
// converted, frozen up to one of its blocks, its frozen prefix on onnxruntime, a head trained and
// the model saved with the backbone's preprocessing. The official file cannot be downloaded here:
// the mirror holds a Keras-layout file with random weights, and the registry entry is pointed at
// that file's size and MD5 for this test process only.
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { TrainEvent } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import { backboneSpec } from '../../../src/engine/backbones/registry'
import { loadModel } from '../../../src/engine/model/store'
import { train } from '../../../src/engine/train/trainer'
import { DATA, tempDir, trainConfig } from '../../helpers'
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
