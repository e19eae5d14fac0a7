// Keras-layout .h5 weights files with random values, for tests that cannot download the official
// ones. Same layout as the official files: root `layer_names` (every layer, the input first, as
// fixed-length byte strings), one group per layer (nested where the name has a "/") with its
// `weight_names`, and each tensor under its weight name. DenseNet and MobileNetV2 files were saved
// by Keras 2 (`conv1/conv/kernel:0`, so /conv1/conv/conv1/conv/kernel:0); VGG16's by Keras 1
// (`block1_conv1_W_1:0`). Layers Keras leaves unnamed carry Keras 2.1's automatic names, which
// differ from ours: the loader must go by order, as Keras does, not by name.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type * as tf from '@tensorflow/tfjs'
import { Group, File as H5File, ready } from 'h5wasm/node'
import { ARCHITECTURES, type Architecture } from '../../../src/engine/backbones/applications'
import type { BackboneSpec } from '../../../src/engine/backbones/registry'
import { ROOT } from '../../helpers'

export interface FixtureTensor {
  /** As written in weight_names. */
  name: string
  shape: number[]
  values: Float32Array
  /** The weight it belongs to in our model, such as `conv1/conv/kernel`. */
  target: string
}

export interface FixtureLayer {
  name: string
  tensors: FixtureTensor[]
}

/** Keras 2.1's automatic names for the layers keras_applications leaves unnamed. */
const KERAS_21_NAMES: Record<string, string> = {
  zero_padding2d: 'zero_padding2d_1',
  zero_padding2d_1: 'zero_padding2d_2',
  global_average_pooling2d: 'global_average_pooling2d_1'
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Random values that keep activations near 1 through any depth, so outputs can be compared at
 * 1e-4: He-scaled kernels, and BatchNormalization that never amplifies (gamma / sqrt(variance)
 * below 1), or rounding differences would grow layer after layer as they never do in a trained net.
 */
function randomValues(kind: string, shape: number[], random: () => number, scale: number): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1)
  const out = new Float32Array(size)
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  const uniform = (lo: number, hi: number): number => lo + (hi - lo) * random()
  const fanIn = kind === 'depthwise_kernel' ? shape[0] * shape[1] : shape.slice(0, -1).reduce((a, b) => a * b, 1)
  for (let i = 0; i < size; i++) {
    if (kind === 'kernel' || kind === 'depthwise_kernel') out[i] = normal() * Math.sqrt((kind === 'kernel' && shape.length === 2 ? 1 : 2) / fanIn) * scale
    else if (kind === 'gamma') out[i] = uniform(0.5, 1)
    else if (kind === 'moving_variance') out[i] = uniform(1, 2)
    else out[i] = normal() * 0.1
  }
  return out
}

/** The file's layers for `architecture`, in Keras' order, with random tensors. */
export function fixtureLayers(architecture: Architecture, includeTop: boolean, seed = 1): FixtureLayer[] {
  const model = ARCHITECTURES[architecture](includeTop)
  const random = mulberry32(seed)
  const keras1 = architecture === 'vgg16'
  let first = true
  const layers = model.layers.map((layer: tf.layers.Layer) => {
    const name = KERAS_21_NAMES[layer.name] ?? layer.name
    const tensors = layer.weights.map((w) => {
      const kind = w.originalName.split('/').at(-1)!
      // VGG16 gets caffe inputs (about ±128): its first kernel is scaled down to keep features near 1.
      const scale = keras1 && first && kind === 'kernel' ? 1 / 128 : 1
      const keras1Name = `${name}_${kind === 'kernel' ? 'W' : 'b'}_1:0`
      return {
        name: keras1 ? keras1Name : `${name}/${kind}:0`,
        shape: w.shape as number[],
        values: randomValues(kind, w.shape as number[], random, scale),
        target: w.originalName
      }
    })
    if (tensors.length > 0) first = false
    return { name, tensors }
  })
  model.dispose()
  return layers
}

function group(root: Group, at: string): Group {
  let g = root
  for (const part of at.split('/')) g = g.keys().includes(part) ? (g.get(part) as Group) : g.create_group(part)
  return g
}

function byteStrings(g: Group, name: string, values: string[]): void {
  const width = Math.max(1, ...values.map((v) => Buffer.byteLength(v)))
  g.create_attribute(name, values, [values.length], `S${width}`)
}

/**
 * Writes `layers` as a Keras weights file at `file` (as save_weights writes it). `withoutData`:
 * tensor names listed in weight_names whose data is left out (a damaged file).
 */
export async function writeKerasH5(file: string, layers: FixtureLayer[], keras1 = false, withoutData: ReadonlySet<string> = new Set()): Promise<void> {
  await ready
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.tmp-${process.pid}`
  const f = new H5File(tmp, 'w')
  try {
    byteStrings(
      f,
      'layer_names',
      layers.map((l) => l.name)
    )
    if (!keras1) {
      f.create_attribute('backend', 'tensorflow', null, 'S10')
      f.create_attribute('keras_version', '2.1.5', null, 'S5')
    }
    for (const layer of layers) {
      const g = group(f, layer.name)
      byteStrings(
        g,
        'weight_names',
        layer.tensors.map((t) => t.name)
      )
      for (const tensor of layer.tensors) {
        if (withoutData.has(tensor.name)) continue
        const parent = tensor.name.includes('/') ? group(g, tensor.name.slice(0, tensor.name.lastIndexOf('/'))) : g
        parent.create_dataset({ name: tensor.name.split('/').at(-1)!, data: tensor.values, shape: tensor.shape, dtype: '<f' })
      }
    }
  } finally {
    f.close()
  }
  fs.renameSync(tmp, file)
}

/** A fixture file shared by the tests of one run (written once, then reused), and its layers. */
export async function sharedFixture(architecture: Architecture, includeTop: boolean): Promise<{ file: string; layers: FixtureLayer[] }> {
  const layers = fixtureLayers(architecture, includeTop)
  const file = path.join(ROOT, '.cache', 'keras-h5-fixtures', `${architecture}${includeTop ? '' : '_notop'}-v2.h5`)
  if (!fs.existsSync(file)) await writeKerasH5(file, layers, architecture === 'vgg16')
  return { file, layers }
}

/**
 * A weights mirror folder (under `work`) holding `file` where the official file would be, and
 * the registry's `spec` with that file's size and MD5 in place of the official ones.
 */
export function fixtureMirror(spec: BackboneSpec, file: string, includeTop: boolean, work: string): { spec: BackboneSpec; mirror: string } {
  const mirror = path.join(work, `mirror-${spec.id}-${includeTop ? 'top' : 'notop'}`)
  const entry = includeTop ? spec.keras!.top : spec.keras!.notop
  const dest = path.join(mirror, entry.path)
  fs.mkdirSync(path.dirname(dest), { recursive: true })
  if (!fs.existsSync(dest)) fs.symlinkSync(file, dest)
  const data = fs.readFileSync(file)
  const fixture = { ...entry, bytes: data.length, md5: createHash('md5').update(data).digest('hex') }
  return { spec: { ...spec, keras: { ...spec.keras!, [includeTop ? 'top' : 'notop']: fixture } }, mirror }
}
