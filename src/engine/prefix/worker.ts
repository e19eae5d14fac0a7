// A worker thread that runs the frozen prefix on batches of pixels: tfjs-wasm is single-threaded
// per thread, so one of these per core is how frozen-layer inference uses the whole machine.
import { parentPort, workerData } from 'node:worker_threads'
import * as tf from '@tensorflow/tfjs'
import type { PreprocessMode } from '../../shared/protocol'
import { initBackend } from '../backend'
import { prefixOutputs } from '../train/pixels'

interface Job {
  id: number
  pixels: Uint8Array | Float32Array
  count: number
}

const { artifacts, size, preprocess } = workerData as { artifacts: tf.io.ModelArtifacts; size: number; preprocess: PreprocessMode }
await initBackend()
const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts))
parentPort!.on('message', (job: Job) => {
  try {
    // Transferred to the parent: a buffer of our own, never memory the backend may own.
    const values = Float32Array.from(prefixOutputs(model, job.pixels, job.count, size, preprocess))
    parentPort!.postMessage({ id: job.id, values }, [values.buffer])
  } catch (error) {
    parentPort!.postMessage({ id: job.id, error: (error as Error).message })
  }
})
parentPort!.postMessage({ ready: true })
