// Who runs the frozen prefix. Fastest first: onnxruntime's native kernels (when every layer has
// an ONNX translation and its numbers match tfjs' on a probe image), then one tfjs-wasm worker per
// core, then this thread. Native TensorFlow (tfjs-node) is multi-threaded already: it runs here.
import os from 'node:os'
import { seededRandom } from '../util/random'
import { mainThreadRunner } from './main-thread'
import { OnnxPrefix } from './onnx'
import { PrefixPool } from './pool'
import { environment } from '../environment'
import type { PrefixRunner, PrefixSpec, RunnerKind } from './runner'

/** Worst difference allowed between onnxruntime's and tfjs' outputs, relative to their size. */
export const AGREEMENT_TOLERANCE = 1e-3

export interface RunnerOptions {
  inferenceBackend: string
  /** Told why a faster runner is not used. */
  onNotice?: (message: string) => void
  /** Only this kind (TRANSFER_STUDIO_PREFIX_RUNNER by default); the next one down when it cannot run. */
  only?: RunnerKind
  threads?: number
}

/** A runner made on first use (cached features may make it unnecessary) and closed once. */
export function lazyPrefixRunner(make: () => Promise<PrefixRunner>): { get: () => Promise<PrefixRunner>; close: () => Promise<void> } {
  let made: Promise<PrefixRunner> | null = null
  return {
    get: () => (made ??= make()),
    close: async () => {
      const runner = made
      made = null
      await (await runner?.catch(() => null))?.close()
    }
  }
}

export async function createPrefixRunner(spec: PrefixSpec, options: RunnerOptions): Promise<PrefixRunner> {
  const main = mainThreadRunner(spec, options.inferenceBackend)
  if (options.inferenceBackend !== 'wasm') return main
  const only = options.only ?? environment.prefixRunner()
  const threads = options.threads ?? os.availableParallelism()
  if (!only || only === 'onnx') {
    const onnx = await tryOnnx(spec, main, threads)
    if (typeof onnx !== 'string') return onnx
    options.onNotice?.(`The frozen layers run on tfjs-wasm: ${onnx}`)
  }
  if (!only || only === 'onnx' || only === 'workers') {
    const pool = await PrefixPool.create(spec, threads)
    if (pool) return pool
  }
  return main
}

async function tryOnnx(spec: PrefixSpec, reference: PrefixRunner, threads: number): Promise<PrefixRunner | string> {
  let runner: OnnxPrefix | string
  try {
    runner = await OnnxPrefix.create(spec, threads)
  } catch (error) {
    return `onnxruntime-node cannot run this model (${(error as Error).message})`
  }
  if (typeof runner === 'string') return runner
  const difference = await disagreement(spec, runner, reference)
  if (!(difference <= AGREEMENT_TOLERANCE)) {
    await runner.close()
    return `onnxruntime-node's outputs differ from tfjs' by ${difference.toExponential(1)} (relative), more than ${AGREEMENT_TOLERANCE}`
  }
  return runner
}

/** Largest difference between two runners on a seeded noise image, relative to the outputs' size. */
export async function disagreement(spec: PrefixSpec, a: PrefixRunner, b: PrefixRunner): Promise<number> {
  const random = seededRandom(1)
  const pixels = Uint8Array.from({ length: spec.size * spec.size * 3 }, () => Math.floor(random() * 256))
  const [x, y] = await Promise.all([a.run(pixels, 1), b.run(pixels, 1)])
  let worst = 0
  let scale = 1
  for (let i = 0; i < x.length; i++) {
    worst = Math.max(worst, Math.abs(x[i] - y[i]))
    scale = Math.max(scale, Math.abs(y[i]))
  }
  return x.length === y.length ? worst / scale : Infinity
}
