// What a run needs to continue after a stop or a crash: the weights that train, the optimizer's
// moments, the callbacks' counters and the history. Written after every epoch, atomically.
import fs from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import type { EpochMetrics, TrainConfig } from '../../shared/protocol'
import { replaceDir, stagingDir } from '../util/atomic'
import type { TrackerState } from './callbacks'

export const STATE_DIR = 'state'

export interface RunState {
  config: TrainConfig
  epochsDone: number
  history: EpochMetrics[]
  lr: number
  bestEpoch: number | null
  trackers: { best: TrackerState; early: TrackerState | null; plateau: TrackerState | null }
  seconds: number
}

interface TensorIndex {
  names: string[]
  shapes: number[][]
}

async function writeTensors(dir: string, name: string, tensors: Array<{ name: string; tensor: tf.Tensor }>): Promise<void> {
  const values = tensors.map(({ tensor }) => tensor.dataSync() as Float32Array)
  const all = new Float32Array(values.reduce((n, v) => n + v.length, 0))
  let offset = 0
  for (const v of values) {
    all.set(v, offset)
    offset += v.length
  }
  const index: TensorIndex = { names: tensors.map((t) => t.name), shapes: tensors.map((t) => t.tensor.shape) }
  await fs.writeFile(path.join(dir, `${name}.bin`), new Uint8Array(all.buffer))
  await fs.writeFile(path.join(dir, `${name}.json`), JSON.stringify(index))
}

async function readTensors(dir: string, name: string): Promise<Array<{ name: string; tensor: tf.Tensor }>> {
  const index = JSON.parse(await fs.readFile(path.join(dir, `${name}.json`), 'utf8')) as TensorIndex
  const bytes = await fs.readFile(path.join(dir, `${name}.bin`))
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
  let offset = 0
  return index.shapes.map((shape, i) => {
    const size = shape.reduce((a, b) => a * b, 1)
    const tensor = tf.tensor(all.subarray(offset, offset + size), shape)
    offset += size
    return { name: index.names[i], tensor }
  })
}

export async function saveRunState(
  runDir: string,
  state: RunState,
  weights: tf.Tensor[],
  best: tf.Tensor[] | null,
  optimizer: tf.Optimizer
): Promise<void> {
  const target = path.join(runDir, STATE_DIR)
  const staged = await stagingDir(target)
  try {
    await writeTensors(staged, 'weights', weights.map((tensor, i) => ({ name: String(i), tensor })))
    if (best) await writeTensors(staged, 'best', best.map((tensor, i) => ({ name: String(i), tensor })))
    const moments = await optimizer.getWeights()
    try {
      await writeTensors(staged, 'optimizer', moments)
    } finally {
      // The optimizer's own variables stay; getWeights() also makes a fresh iteration-count scalar.
      tf.dispose(moments.filter((w) => !(w.tensor instanceof tf.Variable)).map((w) => w.tensor))
    }
    await fs.writeFile(path.join(staged, 'state.json'), JSON.stringify(state, null, 2))
    await replaceDir(staged, target)
  } catch (error) {
    await fs.rm(staged, { recursive: true, force: true })
    throw error
  }
}

export interface LoadedRunState {
  state: RunState
  weights: tf.Tensor[]
  best: tf.Tensor[] | null
  optimizer: Array<{ name: string; tensor: tf.Tensor }>
}

export async function loadRunState(runDir: string): Promise<LoadedRunState> {
  const dir = path.join(runDir, STATE_DIR)
  let state: RunState
  try {
    state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as RunState
  } catch {
    throw new Error(`${runDir} has no saved training state to resume from (${path.join(dir, 'state.json')} is missing)`)
  }
  const hasBest = await fs.stat(path.join(dir, 'best.json')).then(
    () => true,
    () => false
  )
  return {
    state,
    weights: (await readTensors(dir, 'weights')).map((t) => t.tensor),
    best: hasBest ? (await readTensors(dir, 'best')).map((t) => t.tensor) : null,
    optimizer: await readTensors(dir, 'optimizer')
  }
}
