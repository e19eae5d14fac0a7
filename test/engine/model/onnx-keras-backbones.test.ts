// The frozen prefix of the Keras backbones on onnxruntime: every layer kind they use has an ONNX
// translation (ReLU with max_value, uneven ZeroPadding2D, DepthwiseConv2D, Add in MobileNetV2;
// Concatenate, AveragePooling2D, padded max pooling in DenseNet) and gives tfjs' numbers.
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HeadConfig } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import type { Architecture } from '../../../src/engine/backbones/applications'
import { loadBackboneSpec } from '../../../src/engine/backbones/load'
import { backboneSpec } from '../../../src/engine/backbones/registry'
import { decodeImage } from '../../../src/engine/images/decode'
import { buildTransferModel } from '../../../src/engine/model/build'
import { applyFreeze } from '../../../src/engine/model/freeze'
import { partition, prefixSpec } from '../../../src/engine/train/partition'
import { OnnxPrefix } from '../../../src/engine/prefix/onnx'
import { mainThreadRunner } from '../../../src/engine/prefix/main-thread'
import { largestDifference, PHOTOS, tempDir } from '../../helpers'
import { fixtureMirror, sharedFixture } from '../backbones/keras-h5-fixture'

const disposers: Array<() => void> = []
let work: string
beforeAll(async () => {
  await initBackend()
  work = tempDir('ts-onnx-keras-')
})
afterAll(() => disposers.forEach((d) => d()))

describe('Keras backbones: frozen prefix on onnxruntime', () => {
  for (const [id, architecture, classes] of [
    ['mobilenet_v2_1.0_224', 'mobilenet_v2_1_0_224', ['ReLU', 'ZeroPadding2D', 'DepthwiseConv2D', 'Add']],
    ['densenet121', 'densenet121', ['Concatenate', 'AveragePooling2D', 'ZeroPadding2D', 'MaxPooling2D']]
  ] as Array<[string, Architecture, string[]]>) {
    it(`${id}: the same features as tfjs on a real photo`, async () => {
      const { file } = await sharedFixture(architecture, false)
      const { spec, mirror } = fixtureMirror(backboneSpec(id), file, false, work)
      const loaded = await loadBackboneSpec(spec, { home: tempDir(), mirror })
      const tm = buildTransferModel(loaded, { classes: ['a', 'b'], head: HeadConfig.parse({}), inputSize: 224, seed: 1 })
      disposers.push(
        () => tm.model.dispose(),
        () => loaded.model.dispose()
      )
      applyFreeze(tm, { kind: 'all' })
      const part = partition(tm)
      expect(part.cutLayer).toBe('head_pool')
      for (const name of classes) expect(part.prefixNodes.some((n) => n.layer.getClassName() === name)).toBe(true)
      const prefix = prefixSpec(tm, part, spec.preprocess)!
      const pixels = (await decodeImage(path.join(PHOTOS, 'coffee.png'), 224)).data
      const onnx = await OnnxPrefix.create(prefix, 2)
      if (typeof onnx === 'string') throw new Error(onnx)
      const ours = await onnx.run(pixels, 1)
      await onnx.close()
      const reference = await mainThreadRunner(prefix, 'wasm').run(pixels, 1)
      const { worst, scale } = largestDifference(ours, reference)
      console.log(`${id}: onnxruntime vs tfjs, largest difference ${worst.toExponential(2)} (largest feature ${scale.toFixed(3)})`)
      expect(scale).toBeGreaterThan(0.05)
      expect(worst).toBeLessThan(1e-4)
    })
  }
})
