import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HeadConfig } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import { loadBackbone, type LoadedBackbone } from '../../../src/engine/backbones/load'
import { buildTransferModel, type TransferModel } from '../../../src/engine/model/build'
import { applyFreeze, frozenLayers } from '../../../src/engine/model/freeze'
import { blockOf, summarize } from '../../../src/engine/model/summary'
import { partition } from '../../../src/engine/train/partition'
import { tempDir, weightsMirror } from '../../helpers'

let options: { home: string; mirror: string }
const built: Array<{ tm: TransferModel; loaded: LoadedBackbone }> = []

beforeAll(async () => {
  await initBackend()
  options = { home: tempDir(), mirror: weightsMirror() }
})
afterAll(() => {
  for (const { tm, loaded } of built) {
    tm.model.dispose()
    loaded.model.dispose()
  }
})

async function build(backbone: string, head: Partial<HeadConfig> = {}, classes = 2, inputSize?: number) {
  const loaded = await loadBackbone(backbone, options)
  const tm = buildTransferModel(loaded, {
    classes: Array.from({ length: classes }, (_, i) => `c${i}`),
    head: HeadConfig.parse(head),
    inputSize: inputSize ?? loaded.spec.inputSize,
    seed: 1
  })
  built.push({ tm, loaded })
  return tm
}

// Keras MobileNet v1 channel widths: BatchNormalization moving statistics (2 per channel) are the
// non-trainable parameters model.summary() reports for the backbone.
function mobilenetBatchNormChannels(alpha: number): number {
  const c = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024].map((w) => Math.floor(w * alpha))
  let sum = c[0]
  for (let i = 0; i < 13; i++) sum += c[i] + c[i + 1]
  return sum
}

describe('transfer model', () => {
  it('keeps the Keras layer names and cuts at the feature layer (include_top=False)', async () => {
    const tm = await build('mobilenet_v1_0.25_224')
    const names = tm.model.layers.map((l) => l.name)
    expect(names.slice(0, 4)).toEqual(['image', 'conv1', 'conv1_bn', 'conv1_relu'])
    expect(names).toContain('conv_pw_13_bn')
    expect(names).not.toContain('conv_preds')
    expect(names.slice(-3)).toEqual(['conv_pw_13_relu', 'head_pool', 'predictions'])
    expect(tm.model.outputs[0].shape).toEqual([null, 2])
  })

  it('matches Keras parameter totals: MobileNet 0.25 without top is 218,544 parameters', async () => {
    const tm = await build('mobilenet_v1_0.25_224')
    applyFreeze(tm, { kind: 'none' })
    const head = 256 * 2 + 2
    const open = summarize(tm)
    expect(open.totalParameters).toBe(218_544 + head)
    expect(open.nonTrainableParameters).toBe(2 * mobilenetBatchNormChannels(0.25))
    applyFreeze(tm, { kind: 'all' })
    const frozen = summarize(tm)
    expect([frozen.trainableParameters, frozen.nonTrainableParameters]).toEqual([head, 218_544])
  })

  it('matches Keras parameter totals: ResNet50 without top has 23,587,712 parameters, 53,120 non-trainable', async () => {
    const tm = await build('resnet50', {}, 10)
    applyFreeze(tm, { kind: 'none' })
    const summary = summarize(tm)
    expect(summary.totalParameters).toBe(23_587_712 + 2048 * 10 + 10)
    expect(summary.nonTrainableParameters).toBe(53_120)
  })

  it('groups layers into blocks: MobileNet conv_dw_N / conv_pw_N, ResNet conv2_block1 … conv5_block3', async () => {
    const mobileModel = await build('mobilenet_v1_0.25_224')
    applyFreeze(mobileModel, { kind: 'all' })
    const mobile = summarize(mobileModel)
    expect(mobile.blocks.map((b) => b.name)).toEqual(['input', 'conv1', ...Array.from({ length: 13 }, (_, i) => `block_${i + 1}`), 'head'])
    const block11 = mobile.blocks.find((b) => b.name === 'block_11')!
    expect(block11.layers.map((l) => l.name)).toEqual(['conv_dw_11', 'conv_dw_11_bn', 'conv_dw_11_relu', 'conv_pw_11', 'conv_pw_11_bn', 'conv_pw_11_relu'])
    expect(block11.layers[0]).toMatchObject({ type: 'DepthwiseConv2D', outputShape: [null, 14, 14, 128], parameters: 9 * 128, trainable: false })

    const resnet = summarize(await build('resnet50'))
    const blocks = resnet.blocks.map((b) => b.name)
    expect(blocks.slice(0, 3)).toEqual(['input', 'conv1', 'conv2_block1'])
    expect(blocks).toContain('conv4_block6')
    expect(blocks.slice(-2)).toEqual(['conv5_block3', 'head'])
    expect(blocks).toHaveLength(1 + 1 + 16 + 1)
    expect(blockOf('conv3_block2_1_conv')).toBe('conv3_block2')
  })

  it('builds the head the Keras recipes use: Dense with BatchNormalization before and Dropout after', async () => {
    const tm = await build('mobilenet_v1_0.25_224', {
      pooling: 'flatten',
      dropout: 0,
      dense: [
        { units: 64, activation: 'relu', batchNorm: true, dropout: 0.5 },
        { units: 32, activation: 'relu', batchNorm: false, dropout: 0.3 }
      ]
    })
    expect(tm.headLayers).toEqual(['head_flatten', 'head_bn_1', 'head_dense_1', 'head_dropout_1', 'head_dense_2', 'head_dropout_2', 'predictions'])
    expect(tm.model.getLayer('head_dense_1').outputShape).toEqual([null, 64])
    expect(tm.model.getLayer('head_flatten').outputShape).toEqual([null, 7 * 7 * 256])
  })

  it('upsamples small images (CIFAR-10) with a resize layer at the input', async () => {
    const tm = await build('mobilenet_v1_0.25_224', {}, 10, 32)
    expect(tm.model.inputs[0].shape).toEqual([null, 32, 32, 3])
    expect(tm.model.getLayer('upsample').outputShape).toEqual([null, 224, 224, 3])
  })

  it('refuses a dataset with fewer than two classes', async () => {
    await expect(build('mobilenet_v1_0.25_224', {}, 1)).rejects.toThrow('Training needs at least two classes; the dataset has 1 (c0)')
  })
})

describe('freezing and where training starts', () => {
  it('freezes all, none, up to a layer, or an explicit set', async () => {
    const tm = await build('mobilenet_v1_0.25_224')
    applyFreeze(tm, { kind: 'upTo', layer: 'conv_pw_11_relu' })
    expect(tm.model.getLayer('conv_pw_11').trainable).toBe(false)
    expect(tm.model.getLayer('conv_dw_12').trainable).toBe(true)
    expect(frozenLayers(tm).at(-1)).toBe('conv_pw_11_bn')
    expect(partition(tm).cutLayer).toBe('conv_pw_11_relu')

    applyFreeze(tm, { kind: 'all' })
    expect(partition(tm).cutLayer).toBe('head_pool')

    applyFreeze(tm, { kind: 'none' })
    expect(partition(tm).prefix).toBeNull()

    applyFreeze(tm, { kind: 'layers', frozen: ['conv1', 'conv1_bn', 'conv_dw_1'] })
    expect(frozenLayers(tm)).toEqual(['conv1', 'conv1_bn', 'conv_dw_1'])
    expect(partition(tm).cutLayer).toBe('conv_dw_1')
    expect(() => applyFreeze(tm, { kind: 'upTo', layer: 'conv_pw_99' })).toThrow('No layer named "conv_pw_99" in mobilenet_v1_0.25_224')
  })

  it('never cuts ResNet inside a residual block, where a skip connection crosses', async () => {
    const tm = await build('resnet50')
    // res3a_branch2a sits inside conv3_block1: the shortcut branch still needs the block's input.
    applyFreeze(tm, { kind: 'upTo', layer: 'res3a_branch2a' })
    const part = partition(tm)
    const names = tm.graph.map((n) => n.layer.name)
    const cut = names.indexOf(part.cutLayer!)
    expect(cut).toBeLessThan(names.indexOf('res3a_branch2a'))
    expect(part.cutLayer).toMatch(/^activation/)
    // The last cut before it: the output of conv2_block3, the end of stage 2.
    expect(part.featureShape).toEqual([56, 56, 256])
    part.dispose()
  })

  it("starts the classifier as HeadConfig.init says: zeros, PyTorch's U(±1/sqrt(fan_in)), or Keras' Glorot", async () => {
    const kernel = async (init: HeadConfig['init']): Promise<Float32Array> => {
      const tm = await build('mobilenet_v1_0.25_224', { init }, 4)
      return tm.model.getLayer('predictions').getWeights()[0].dataSync() as Float32Array
    }
    const fanIn = 256
    const largest = (w: Float32Array): number => w.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
    expect(HeadConfig.parse({}).init).toBe('zeros')
    expect(largest(await kernel('zeros'))).toBe(0)
    const pytorch = await kernel('pytorch')
    expect(largest(pytorch)).toBeLessThanOrEqual(1 / Math.sqrt(fanIn))
    expect(largest(pytorch)).toBeGreaterThan(0.9 / Math.sqrt(fanIn))
    const keras = await kernel('keras')
    const glorot = Math.sqrt(6 / (fanIn + 4))
    expect(largest(keras)).toBeLessThanOrEqual(glorot)
    expect(largest(keras)).toBeGreaterThan(0.9 * glorot)
  })
})
