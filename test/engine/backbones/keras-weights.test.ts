// The Keras .h5 loader against Keras-layout files written here: every tensor lands in the weight
// Keras' load_weights would put it in, and every kind of mismatch is refused with its name.
import path from 'node:path'
import type * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ARCHITECTURES, type Architecture } from '../../../src/engine/backbones/applications'
import { loadKerasWeights } from '../../../src/engine/backbones/keras-weights'
import { initBackend } from '../../../src/engine/backend'
import { tempDir } from '../../helpers'
import { fixtureLayers, sharedFixture, writeKerasH5, type FixtureLayer } from './keras-h5-fixture'

let work: string
const models: tf.LayersModel[] = []

beforeAll(async () => {
  await initBackend()
  work = tempDir('ts-keras-weights-')
})
afterAll(() => models.forEach((m) => m.dispose()))

/** The weights of `model` whose values differ from the fixture tensor meant for them (by name). */
function misplaced(model: tf.LayersModel, layers: FixtureLayer[]): string[] {
  const expected = new Map(layers.flatMap((l) => l.tensors.map((t) => [t.target, t.values])))
  const wrong: string[] = []
  let checked = 0
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      const want = expected.get(w.originalName)
      const got = w.read().dataSync() as Float32Array
      checked++
      if (!want || Buffer.compare(Buffer.from(want.buffer, want.byteOffset, want.byteLength), Buffer.from(got.buffer, got.byteOffset, got.byteLength)) !== 0) {
        wrong.push(w.originalName)
      }
    }
  }
  expect(checked).toBe(expected.size)
  return wrong
}

function build(architecture: Architecture): tf.LayersModel {
  const model = ARCHITECTURES[architecture](false)
  models.push(model)
  return model
}

/** A mutated copy of MobileNetV2's layers written to its own file; `change` edits the copy. */
async function damaged(name: string, change: (layers: FixtureLayer[]) => void, withoutData: string[] = []): Promise<string> {
  const layers = structuredClone(fixtureLayers('mobilenet_v2_1_0_224', false))
  change(layers)
  const file = path.join(work, `${name}.h5`)
  await writeKerasH5(file, layers, false, new Set(withoutData))
  return file
}

const layerOf = (layers: FixtureLayer[], name: string): FixtureLayer => layers.find((l) => l.name === name)!

describe('Keras .h5 weights into the architectures built here', () => {
  for (const architecture of ['mobilenet_v2_1_0_224', 'densenet121', 'vgg16'] as const) {
    it(`${architecture}: every tensor of the file lands in the weight Keras would put it in`, async () => {
      const { file, layers } = await sharedFixture(architecture, false)
      const model = build(architecture)
      await loadKerasWeights(model, file)
      expect(misplaced(model, layers)).toEqual([])
    })
  }

  it('the placement check notices two tensors swapped in the file', async () => {
    const file = await damaged('swapped', (layers) => {
      const bn = layerOf(layers, 'bn_Conv1')
      const [gamma, variance] = [bn.tensors[0], bn.tensors[3]]
      ;[gamma.values, variance.values] = [variance.values, gamma.values]
    })
    const model = build('mobilenet_v2_1_0_224')
    await loadKerasWeights(model, file)
    expect(misplaced(model, fixtureLayers('mobilenet_v2_1_0_224', false))).toEqual(['bn_Conv1/gamma', 'bn_Conv1/moving_variance'])
  })

  it('refuses a tensor listed in weight_names but absent from the file, naming it', async () => {
    const file = await damaged('absent', () => {}, ['block_3_project/kernel:0'])
    await expect(loadKerasWeights(build('mobilenet_v2_1_0_224'), file)).rejects.toThrow(
      `${file}: layer "block_3_project" lists the tensor "block_3_project/kernel:0" in weight_names, but the file has no such tensor`
    )
  })

  it('refuses a layer missing one of its tensors, naming what it holds and what is needed', async () => {
    const file = await damaged('missing', (layers) => void layerOf(layers, 'block_5_depthwise_BN').tensors.splice(3, 1))
    await expect(loadKerasWeights(build('mobilenet_v2_1_0_224'), file)).rejects.toThrow(
      `${file}: layer "block_5_depthwise_BN" holds 3 tensors (block_5_depthwise_BN/gamma:0 [192], block_5_depthwise_BN/beta:0 [192], ` +
        'block_5_depthwise_BN/moving_mean:0 [192]) but block_5_depthwise_BN of mobilenetv2_1.00_224 needs 4 (gamma [192], beta [192], moving_mean [192], moving_variance [192])'
    )
  })

  it('refuses an extra tensor, naming it', async () => {
    const file = await damaged('extra', (layers) => {
      const conv = layerOf(layers, 'Conv1')
      conv.tensors.push({ name: 'Conv1/bias:0', shape: [32], values: new Float32Array(32), target: 'Conv1/bias' })
    })
    await expect(loadKerasWeights(build('mobilenet_v2_1_0_224'), file)).rejects.toThrow(
      `${file}: layer "Conv1" holds 2 tensors (Conv1/kernel:0 [3, 3, 3, 32], Conv1/bias:0 [32]) but Conv1 of mobilenetv2_1.00_224 needs 1 (kernel [3, 3, 3, 32])`
    )
  })

  it('refuses a misshapen tensor, naming it and both shapes', async () => {
    const file = await damaged('misshapen', (layers) => {
      const kernel = layerOf(layers, 'block_16_project').tensors[0]
      kernel.shape = [1, 1, 960, 160]
      kernel.values = kernel.values.subarray(0, 960 * 160)
    })
    await expect(loadKerasWeights(build('mobilenet_v2_1_0_224'), file)).rejects.toThrow(
      `${file}: tensor "block_16_project/kernel:0" of layer "block_16_project" has shape [1, 1, 960, 160] but block_16_project/kernel of mobilenetv2_1.00_224 needs [1, 1, 960, 320]`
    )
  })

  it('refuses a file with a layer too few, naming the first layer that does not correspond', async () => {
    const file = await damaged('layer-missing', (layers) => void (layerOf(layers, 'block_2_expand').tensors = []))
    await expect(loadKerasWeights(build('mobilenet_v2_1_0_224'), file)).rejects.toThrow(
      `${file} holds weights for 103 layers but mobilenetv2_1.00_224 has 104 layers with weights; the first that does not correspond: ` +
        'file layer "block_2_expand_BN" (block_2_expand_BN/gamma:0 [144], block_2_expand_BN/beta:0 [144], block_2_expand_BN/moving_mean:0 [144], block_2_expand_BN/moving_variance:0 [144]) ' +
        'against block_2_expand (kernel [1, 1, 24, 144])'
    )
  })

  it('refuses what is not a Keras weights file', async () => {
    const file = path.join(work, 'not-hdf5.h5')
    await import('node:fs').then((fs) => fs.writeFileSync(file, '<html>Not Found</html>'))
    await expect(loadKerasWeights(build('mobilenet_v2_1_0_224'), file)).rejects.toThrow(`${file} is not an HDF5 file`)
  })
})
