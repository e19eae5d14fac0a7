// Shared by the native-training tests: seeded random weights and inputs, real features from the
// frozen prefix, the probe graph run on onnxruntime, and the comparison against a reference.
import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import protos from 'onnx-proto'
import { expect } from 'vitest'
import { decodeImage } from '../../../src/engine/images/decode'
import { NCHWC_DOMAIN } from '../../../src/engine/finetune/nchwc'
import type { TransferModel } from '../../../src/engine/model/build'
import { loadOnnxRuntime, type Ort } from '../../../src/engine/onnx-runtime'
import { OnnxPrefix } from '../../../src/engine/prefix/onnx'
import { prefixSpec, type Partition } from '../../../src/engine/train/partition'
import { seededRandom } from '../../../src/engine/util/random'
import { DATA, largestDifference } from '../../helpers'

const HYMENOPTERA = path.join(DATA, 'mini', 'hymenoptera', 'train')

/** The frozen prefix's features of the first `perClass` photos of each mini hymenoptera class (ants 0, bees 1). */
export async function realFeatures(tm: TransferModel, part: Partition, perClass: number): Promise<{ features: Float32Array; labels: Int32Array }> {
  const files = ['ants', 'bees'].flatMap((label) =>
    fs
      .readdirSync(path.join(HYMENOPTERA, label))
      .sort()
      .slice(0, perClass)
      .map((f) => path.join(HYMENOPTERA, label, f))
  )
  const images = await Promise.all(files.map((f) => decodeImage(f, 224)))
  const prefix = await OnnxPrefix.create(prefixSpec(tm, part, tm.backbone.preprocess)!, 2)
  if (typeof prefix === 'string') throw new Error(prefix)
  const features = await prefix.run(Uint8Array.from(images.flatMap((i) => [...i.data])), files.length)
  await prefix.close()
  return { features, labels: Int32Array.from(files, (_, i) => (i < perClass ? 0 : 1)) }
}

export async function ort(): Promise<Ort> {
  const runtime = await loadOnnxRuntime()
  if (typeof runtime === 'string') throw new Error(runtime)
  return runtime
}

export function randomArray(n: number, random: () => number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + scale * (random() * 2 - 1))
}

/** Replaces every weight of `model` with seeded random values (variances kept positive). */
export function randomiseWeights(model: tf.LayersModel, seed: number): void {
  const random = seededRandom(seed)
  for (const layer of model.layers) {
    const values = layer.weights.map((w) => {
      const size = w.shape.reduce((a, b) => a! * b!, 1)!
      const short = w.originalName.split('/').at(-1)!
      const data =
        short === 'moving_variance' ? randomArray(size, random, 0.5, 1) : short === 'gamma' ? randomArray(size, random, 0.5, 1) : randomArray(size, random, 0.5)
      return tf.tensor(data, w.shape as number[])
    })
    if (values.length > 0) layer.setWeights(values)
    tf.dispose(values)
  }
}

/** Largest absolute difference relative to the reference's largest magnitude. */
export function relativeError(ours: ArrayLike<number>, reference: ArrayLike<number>): number {
  const { worst, scale } = largestDifference(ours, reference)
  expect(scale).toBeGreaterThan(0)
  return worst / scale
}

/** How many Convs of a graph run on onnxruntime's blocked kernels. */
export function blockedConvolutions(bytes: Uint8Array): number {
  return protos.onnx.ModelProto.decode(bytes).graph!.node!.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv').length
}

/**
 * The graph with every ReLU's output as a graph output too (in graph order), so a reference can
 * take the same ReLU masks: where a pre-activation lies within float32 rounding of zero, two
 * correct implementations may take different sides of the kink, and that one element then changes
 * every gradient upstream of it. A ReLU folded into a blocked convolution (its `activation`
 * attribute, batchnorm-fold.ts) is that convolution's output back in NCHW.
 */
export function withReluOutputs(bytes: Uint8Array): { bytes: Uint8Array; relus: string[] } {
  const model = protos.onnx.ModelProto.decode(bytes)
  const graph = model.graph!
  const nodes = graph.node!
  const fusedRelu = (n: (typeof nodes)[number]) =>
    n.domain === NCHWC_DOMAIN && n.opType === 'Conv' && n.attribute!.some((a) => a.name === 'activation' && new TextDecoder().decode(a.s!) === 'Relu')
  const relus = nodes
    .filter((n) => (n.opType === 'Relu' && !n.domain) || fusedRelu(n))
    .map((n) => {
      if (!n.domain) return n.output![0]
      const back = nodes.find((m) => m.opType === 'ReorderOutput' && m.input![0] === n.output![0])
      if (!back) throw new Error(`the fused convolution ${n.name} has no NCHW output`)
      return back.output![0]
    })
  for (const name of relus) {
    graph.output!.push(protos.onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: protos.onnx.TensorProto.DataType.FLOAT } } }))
  }
  return { bytes: protos.onnx.ModelProto.encode(model).finish(), relus }
}
