// What a run needs to continue after a stop or a crash: the weights that train, the optimizer's
// moments, the callbacks' counters and the history. Written after every epoch, atomically.
import fs from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { describeSchemaError, MAX_PARAMETERS, RunStateRecord, TensorIndex } from '../../shared/protocol'
import { replaceDir, stagingDir, unexpectedEntries, writeParts } from '../util/atomic'
import { readJsonFile, readRegularFile, UnsafeFileError } from '../util/safe-read'
import { runLayout, STATE_FILE } from './run-layout'

const TENSOR_FILES = ['weights', 'best', 'optimizer']
const STATE_FILES = new Set([STATE_FILE, ...TENSOR_FILES.flatMap((name) => [`${name}.json`, `${name}.bin`])])
const MAX_JSON_BYTES = 64 * 1024 * 1024

export type RunState = RunStateRecord

export class RunStateError extends Error {
  override name = 'TrainError'
}

/** Why `dir` is not a state folder we wrote (so may not be replaced), or null. */
export async function notAStateFolder(dir: string): Promise<string | null> {
  const names = await fs.readdir(dir)
  if (!names.includes(STATE_FILE)) return `${dir} has no ${STATE_FILE}`
  return unexpectedEntries(dir, STATE_FILES)
}

/**
 * The tensors' values one after another in `<name>.bin`, each written from where it is: one array
 * holding them all was a fresh copy of the state every epoch (240 MB for ResNet50's conv5, whose
 * first writes alone cost page faults), before a byte reached the file.
 */
async function writeTensors(dir: string, name: string, tensors: Array<{ name: string; tensor: tf.Tensor }>): Promise<void> {
  const chunks = tensors.map(({ tensor }) => {
    // The file holds float32 values (readTensors): the optimizer's int32 iteration count as one.
    const values = tensor.dtype === 'float32' ? (tensor.dataSync() as Float32Array) : Float32Array.from(tensor.dataSync())
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  })
  const index: TensorIndex = { names: tensors.map((t) => t.name), shapes: tensors.map((t) => t.tensor.shape) }
  await writeParts(path.join(dir, `${name}.bin`), chunks)
  await fs.writeFile(path.join(dir, `${name}.json`), JSON.stringify(index))
}

async function readTensors(dir: string, name: string): Promise<Array<{ name: string; tensor: tf.Tensor }>> {
  const indexFile = path.join(dir, `${name}.json`)
  const parsed = TensorIndex.safeParse(await readJsonFile(indexFile, MAX_JSON_BYTES).catch(stateFileError(indexFile)))
  if (!parsed.success) throw new RunStateError(`${indexFile} is not a valid tensor index: ${describeSchemaError(parsed.error)}`)
  const index = parsed.data
  const values = index.shapes.reduce((total, shape) => total + shape.reduce((a, b) => a * b, 1), 0)
  // The index says how many bytes the .bin holds; a file of any other size (or kind) is not read.
  const binFile = path.join(dir, `${name}.bin`)
  const bytes = await readRegularFile(binFile, { maxBytes: MAX_PARAMETERS * 4, expectedBytes: values * 4 }).catch(stateFileError(binFile))
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
  optimizer: ReadonlyArray<{ name: string; tensor: tf.Tensor }>
): Promise<void> {
  const target = runLayout(runDir).state
  const staged = await stagingDir(target)
  try {
    await writeTensors(
      staged,
      'weights',
      weights.map((tensor, i) => ({ name: String(i), tensor }))
    )
    if (best)
      await writeTensors(
        staged,
        'best',
        best.map((tensor, i) => ({ name: String(i), tensor }))
      )
    await writeTensors(staged, 'optimizer', [...optimizer])
    await fs.writeFile(path.join(staged, STATE_FILE), JSON.stringify(state, null, 2))
    await replaceDir(staged, target, { owned: notAStateFolder })
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

/** Whether the run saved a state at all (it does after its first completed epoch). */
export async function hasRunState(runDir: string): Promise<boolean> {
  return fs.lstat(runLayout(runDir).stateFile).then(
    () => true,
    () => false
  )
}

const stateFileError = (file: string) => (error: Error & { code?: string }) => {
  if (error.code === 'ENOENT') throw new RunStateError(`${file} is missing: the run's saved state is incomplete`)
  throw new RunStateError(`${file} cannot be used: ${error instanceof UnsafeFileError ? error.reason : error.message}`)
}

export async function loadRunState(runDir: string): Promise<LoadedRunState> {
  const { state: dir, stateFile } = runLayout(runDir)
  const parsed = RunStateRecord.safeParse(await readJsonFile(stateFile, MAX_JSON_BYTES).catch(stateFileError(stateFile)))
  if (!parsed.success) throw new RunStateError(`${stateFile} is not a valid run state: ${describeSchemaError(parsed.error)}`)
  const state = parsed.data
  if (state.history.length !== state.epochsDone || state.epochsDone > state.config.epochs) {
    throw new RunStateError(`${stateFile} is not a valid run state: epochsDone (${state.epochsDone}) disagrees with its history or its epochs`)
  }
  const hasBest = await fs.lstat(path.join(dir, 'best.json')).then(
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
