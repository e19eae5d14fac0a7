// Chooses the compute backend once per process: native TensorFlow when one of the optional
// tfjs-node packages is installed and loads, otherwise WebAssembly for forward passes and the
// JavaScript `cpu` backend for gradients (the wasm backend has no Conv2DBackpropFilter).
import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { setWasmPaths, getThreadsCount } from '@tensorflow/tfjs-backend-wasm'
import type { BackendInfo } from '../shared/protocol'
import { loadOnnxRuntime, onnxDescription } from './onnx-runtime'
import { describeNchwc, probeNchwc } from './finetune/nchwc'
import { describeUnfrozenEngine } from './train/native-step'

const require = createRequire(import.meta.url)

let chosen: Promise<BackendInfo> | undefined

/** Initialises the backend on first call; later calls return the same answer. */
export function initBackend(): Promise<BackendInfo> {
  chosen ??= choose()
  return chosen
}

async function choose(): Promise<BackendInfo> {
  const notes: string[] = []
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const) {
    const failure = tryNative(pkg)
    if (failure === null && (await tf.setBackend('tensorflow'))) {
      return {
        inference: 'tensorflow',
        training: 'tensorflow',
        provider: pkg === '@tensorflow/tfjs-node-gpu' ? 'tfjs-node-gpu' : 'tfjs-node',
        tfjsVersion: tf.version.tfjs,
        cpuThreads: os.availableParallelism(),
        inferenceThreads: os.availableParallelism(),
        frozenLayers: `${pkg.slice('@tensorflow/'.length)} (this process)`,
        unfrozenLayers: describeUnfrozenEngine('tensorflow', { description: 'onnxruntime-node' }),
        gpu: pkg === '@tensorflow/tfjs-node-gpu' ? gpuName() : null,
        notes
      }
    }
    notes.push(`${pkg} not in use: ${failure ?? 'its backend did not initialise'}`)
  }

  setWasmPaths(wasmDir() + path.sep)
  if (!(await tf.setBackend('wasm'))) throw new Error('The WebAssembly backend failed to initialise.')
  quietCpuBackend()
  // wasm is one thread per thread: frozen layers go to onnxruntime's native kernels when it loads.
  const ort = await loadOnnxRuntime()
  if (typeof ort === 'string') notes.push(ort)
  const threads = os.availableParallelism()
  return {
    inference: 'wasm',
    training: 'cpu',
    provider: 'fallback',
    tfjsVersion: tf.version.tfjs,
    cpuThreads: os.availableParallelism(),
    inferenceThreads: getThreadsCount(),
    frozenLayers: typeof ort === 'string' ? `tfjs-wasm on ${threads} worker threads` : onnxDescription(ort, threads),
    unfrozenLayers: describeUnfrozenEngine(
      'cpu',
      typeof ort === 'string' ? { unavailable: ort } : { description: `${onnxDescription(ort, threads)}${describeNchwc(await probeNchwc(ort))}` }
    ),
    gpu: null,
    notes
  }
}

function tryNative(pkg: string): string | null {
  try {
    require(pkg)
    return null
  } catch (error) {
    const message = (error as Error).message.split('\n')[0].trim()
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && message.includes(`'${pkg}'`)) {
      return 'not installed (its install downloads libtensorflow, which needs internet access)'
    }
    if (/native addon module/i.test(message)) {
      return 'installed without its native library (libtensorflow could not be downloaded during npm install)'
    }
    return message
  }
}

function wasmDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))
}

function gpuName(): string | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 5000
    })
    return out.trim().split('\n').join(', ') || null
  } catch {
    return null
  }
}

/**
 * The cpu backend greets Node users with advice to install tfjs-node on its first tensor.
 * We already report the backend in `info`, and the greeting would land in the middle of
 * JSON output, so mark it as said.
 */
function quietCpuBackend(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null
  if (cpu) cpu.firstUse = false
}

/**
 * Runs `fn` with `name` as the current backend. Switching between initialised backends is
 * synchronous, and tensors made on one are read by the other on demand, so frozen layers can run
 * on wasm and trainable ones on cpu within one step.
 */
export function onBackend<T>(name: string, fn: () => T): T {
  const previous = tf.getBackend()
  if (previous === name) return fn()
  void tf.setBackend(name)
  try {
    return fn()
  } finally {
    void tf.setBackend(previous)
  }
}
