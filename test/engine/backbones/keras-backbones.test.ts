// The four Keras backbones against an independent implementation: torchvision's own models given
// the same random weights (a Keras-layout .h5 read by h5py, by name), on a real photo. Ours goes
// the whole way the app goes: the .h5 from a weights mirror, checked, converted into the cache,
// loaded from there, fed with our preprocess_input. Slow on 2 shared cores (DenseNet201 and VGG16
// take a while in both implementations); each file is written once and reused.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Architecture } from '../../../src/engine/backbones/applications'
import { loadBackboneSpec } from '../../../src/engine/backbones/load'
import { backboneSpec } from '../../../src/engine/backbones/registry'
import { initBackend } from '../../../src/engine/backend'
import { decodeImage } from '../../../src/engine/images/decode'
import { preprocess } from '../../../src/engine/inference/preprocess'
import { largestDifference, PHOTOS, tempDir } from '../../helpers'
import { fixtureMirror, sharedFixture } from './keras-h5-fixture'

const PYTHON = '/usr/bin/python3'
const REFERENCE = path.join(import.meta.dirname, 'torchvision_reference.py')

let pixels: Uint8Array
let work: string

beforeAll(async () => {
  await initBackend()
  pixels = (await decodeImage(path.join(PHOTOS, 'chelsea.png'), 224)).data
  work = tempDir('ts-keras-')
  fs.writeFileSync(path.join(work, 'pixels.u8'), pixels)
})

function torchvision(arch: string, file: string, top: boolean): Float32Array {
  const out = path.join(work, `${arch}-${top}.f32`)
  const result = spawnSync(PYTHON, [REFERENCE, arch, file, path.join(work, 'pixels.u8'), out, ...(top ? ['--top'] : [])], {
    encoding: 'utf8',
    timeout: 600_000
  })
  if (result.status !== 0) throw new Error(`torchvision reference failed: ${result.stderr}`)
  const bytes = fs.readFileSync(out)
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
}

const CASES: Array<{ id: string; architecture: Architecture; torch: string; top: boolean; shape: number[] }> = [
  { id: 'mobilenet_v2_1.0_224', architecture: 'mobilenet_v2_1_0_224', torch: 'mobilenet_v2', top: false, shape: [1, 7, 7, 1280] },
  { id: 'mobilenet_v2_1.0_224', architecture: 'mobilenet_v2_1_0_224', torch: 'mobilenet_v2', top: true, shape: [1, 1000] },
  { id: 'densenet121', architecture: 'densenet121', torch: 'densenet121', top: false, shape: [1, 7, 7, 1024] },
  { id: 'densenet121', architecture: 'densenet121', torch: 'densenet121', top: true, shape: [1, 1000] },
  { id: 'densenet201', architecture: 'densenet201', torch: 'densenet201', top: false, shape: [1, 7, 7, 1920] },
  { id: 'vgg16', architecture: 'vgg16', torch: 'vgg16', top: false, shape: [1, 7, 7, 512] }
]

describe('Keras backbones against torchvision, same weights, one photo', () => {
  for (const c of CASES) {
    it(`${c.id}${c.top ? ' with its top' : ''}: outputs within 1e-4 of torchvision's`, async () => {
      const { file } = await sharedFixture(c.architecture, c.top)
      const { spec, mirror } = fixtureMirror(backboneSpec(c.id), file, c.top, work)
      const home = tempDir()
      const { model } = await loadBackboneSpec(spec, { home, mirror, includeTop: c.top })
      const ours = tf.tidy(() => model.predict(preprocess(tf.tensor4d(pixels, [1, 224, 224, 3], 'int32'), spec.preprocess)) as tf.Tensor)
      expect(ours.shape).toEqual(c.shape)
      const a = ours.dataSync() as Float32Array
      ours.dispose()
      model.dispose()
      const b = torchvision(c.torch, file, c.top)
      const { worst, scale: largest } = largestDifference(a, b)
      console.log(`${c.id}${c.top ? ' (top)' : ''}: max |ours - torchvision| = ${worst.toExponential(2)}, largest output ${largest.toFixed(3)}`)
      // Outputs all zero, or a uniform softmax (0.001 each), would make the comparison empty.
      expect(largest).toBeGreaterThan(c.top ? 1.5e-3 : 0.1)
      expect(worst).toBeLessThan(1e-4)
      expect(worst / largest).toBeLessThan(1e-4)
    })
  }
})
