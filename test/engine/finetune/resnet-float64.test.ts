// ResNet50's last stage (conv5, 15 M weights) on the native training graph against PyTorch in
// float64 (test/engine/finetune/suffix_float64.py, the same weights, real features, the same output
// gradient): tfjs's cpu backend takes minutes a pass here and is itself float32, so it cannot tell
// which of two float32 answers is off; float64 can. Frozen up to activation_39 as the fine-tuning
// benchmark's case (c), features of real photos from our own frozen prefix. The reference takes the
// graph's own ReLU masks (and counts how many differ from its own): on an AVX2 machine one
// pre-activation of 3.6 million lay within float32 rounding of zero, our two kernel paths took
// different sides of it, and that one element moved every gradient upstream by up to 1.7e-2.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBackbone, type LoadedBackbone } from '../../../src/engine/backbones/load'
import { buildProbeGraph, INPUT_GRAD, OUTPUT_GRAD, suffixOf, type SuffixSpec } from '../../../src/engine/finetune/build'
import { nchwcBlock, type Nchwc } from '../../../src/engine/finetune/nchwc'
import { buildTransferModel, type TransferModel } from '../../../src/engine/model/build'
import { applyFreeze } from '../../../src/engine/model/freeze'
import { partition, type Partition } from '../../../src/engine/train/partition'
import { seededRandom } from '../../../src/engine/util/random'
import { tempDir, weightsMirror } from '../../helpers'
import { blockedConvolutions, ort, realFeatures, relativeError, withReluOutputs } from './reference'

const PYTHON = '/usr/bin/python3'
const REFERENCE = path.join(import.meta.dirname, 'suffix_float64.py')
const PER_CLASS = 4

let loaded: LoadedBackbone
let tm: TransferModel
let part: Partition
let suffix: SuffixSpec
let features: Float32Array

beforeAll(async () => {
  loaded = await loadBackbone('resnet50', { home: tempDir(), mirror: weightsMirror() })
  // No dropout: the probe would need its mask, and the reference draws none.
  tm = buildTransferModel(loaded, { classes: ['ants', 'bees'], head: { pooling: 'avg', dropout: 0, dense: [], init: 'keras' }, inputSize: 224, seed: 1 })
  applyFreeze(tm, { kind: 'upTo', layer: 'activation_39' })
  part = partition(tm)
  suffix = suffixOf(tm, part, tm.backbone.preprocess)
  ;({ features } = await realFeatures(tm, part, PER_CLASS))
}, 600_000)

afterAll(() => {
  tm.model.dispose()
  loaded.model.dispose()
})

const write = (file: string, data: Float32Array) => fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength))
const read = (file: string) => {
  const bytes = fs.readFileSync(file)
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
}

describe('native gradients of ResNet50 conv5 against PyTorch float64', () => {
  it(
    'every weight gradient and the features gradient within 1e-5 relative, on real features, on standard and on blocked kernels',
    { timeout: 900_000 },
    async () => {
      expect(part.featureShape).toEqual([14, 14, 1024])
      const count = PER_CLASS * 2
      const random = seededRandom(7)
      const r = Float32Array.from({ length: count * 2 }, () => random() * 2 - 1)
      const runtime = await ort()
      const gradients = async (nchwc: Nchwc | null) => {
        const probe = buildProbeGraph(suffix, { batchNorm: 'frozen', nchwc })
        const { bytes, relus } = withReluOutputs(probe.bytes)
        const session = await runtime.InferenceSession.create(bytes, { intraOpNumThreads: 2, logSeverityLevel: 3 })
        const feeds: Record<string, InstanceType<typeof runtime.Tensor>> = {
          features: new runtime.Tensor('float32', features, [count, ...part.featureShape]),
          [OUTPUT_GRAD]: new runtime.Tensor('float32', r, [count, 2])
        }
        for (const w of probe.weights)
          feeds[w.input] = new runtime.Tensor('float32', w.variable.read().dataSync() as Float32Array, w.variable.shape as number[])
        const out = await session.run(feeds)
        await session.release()
        // Each ReLU's mask (NCHW, 1 where it passed), for the reference to use the same ones.
        const masks = relus.map((name) => Uint8Array.from(out[name].data as Float32Array, (v) => (v > 0 ? 1 : 0)))
        return { probe, out, masks }
      }
      const standard = await gradients(null)
      const probe = standard.probe
      expect(blockedConvolutions(probe.bytes)).toBe(0)
      // Where this CPU has onnxruntime's blocked kernels (x86-64), the graph the trainer runs: the
      // forwards of all ten Conv2Ds on them, and the input gradients of the three stride-1 3x3 ones.
      const block = await nchwcBlock(runtime)
      if (process.arch === 'x64') expect(block).not.toBeNull()
      const blocked = block === null ? null : await gradients({ block, maxBatch: count })
      if (blocked) expect(blockedConvolutions(blocked.probe.bytes)).toBe(10 + 3)

      // What the reference needs: the layers with their Keras configs, every weight, the same inputs.
      const work = tempDir('ts-float64-')
      const weights: { name: string; shape: number[]; offset: number }[] = []
      const values: Float32Array[] = []
      let offset = 0
      for (const { layer } of suffix.nodes) {
        for (const w of layer.weights) {
          const data = w.read().dataSync() as Float32Array
          weights.push({ name: w.originalName, shape: w.shape as number[], offset })
          values.push(data)
          offset += data.length
        }
      }
      const flat = new Float32Array(offset)
      values.reduce((at, v) => (flat.set(v, at), at + v.length), 0)
      write(path.join(work, 'weights.f32'), flat)
      write(path.join(work, 'features.f32'), features)
      write(path.join(work, 'output_grad.f32'), r)
      const manifest = {
        layers: suffix.nodes.map(({ layer, inputs }) => ({ name: layer.name, class: layer.getClassName(), config: layer.getConfig(), inputs })),
        weights,
        wanted: probe.weights.map((w) => w.variable.originalName),
        input: suffix.input.name,
        featureShape: part.featureShape,
        batch: count
      }
      fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify(manifest))
      // The graph's Relu nodes are the suffix's ReLU activations, in order.
      const reluLayers = suffix.nodes.filter(
        ({ layer }) => layer.getClassName() === 'Activation' && (layer.getConfig() as { activation: string }).activation === 'relu'
      )
      expect(reluLayers.length).toBe(9)

      for (const [label, run] of [['standard kernels', standard], ...(blocked ? [['blocked kernels', blocked] as const] : [])] as const) {
        expect(run.masks.length).toBe(reluLayers.length)
        const masks = Buffer.concat(run.masks)
        fs.writeFileSync(path.join(work, 'masks.u8'), masks)
        fs.writeFileSync(path.join(work, 'masks.json'), JSON.stringify(reluLayers.map(({ layer }) => layer.name)))
        const result = spawnSync(PYTHON, [REFERENCE, work], { encoding: 'utf8', timeout: 600_000 })
        if (result.status !== 0) throw new Error(`PyTorch reference failed: ${result.stderr}`)
        // The masks must be float64's own but for elements at the kink: a wrong forward pass would flip many.
        const { flipped } = JSON.parse(fs.readFileSync(path.join(work, 'masks_checked.json'), 'utf8')) as { flipped: number }
        console.log(`ResNet50 conv5, ${label}: ${flipped} of ${masks.length} ReLU decisions differ from float64's (pre-activations within rounding of 0)`)
        expect(flipped).toBeLessThanOrEqual(masks.length * 1e-5)

        const expected = probe.weights.map((w, i) => [w.variable.originalName, read(path.join(work, `ref_${i}.f32`))] as const)
        expected.push(['features', read(path.join(work, 'ref_input.f32'))])
        const outputs = [...run.probe.weights.map((w) => w.output), INPUT_GRAD]
        const errors = expected.map(([name, reference], i) => [name, relativeError(run.out[outputs[i]].data as Float32Array, reference)] as const)
        const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a))
        console.log(
          `ResNet50 conv5, real features, ${label}: worst relative gradient difference from float64 ${worst[1].toExponential(2)} (${worst[0]}) over ${errors.length} tensors`
        )
        expect(errors.length).toBe(43)
        for (const [name, error] of errors) expect(error, `${label}: ${name}`).toBeLessThan(1e-5)
      }
    }
  )
})
