// One worker thread per core, each running the frozen prefix on its own wasm backend. Results
// are the same numbers the in-process prefix gives (the same kernels run them); when workers
// cannot be started in some host, callers fall back to running the prefix in-process.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import * as tf from '@tensorflow/tfjs'
import { environment } from '../environment'
import type { PrefixRunner, PrefixSpec } from './runner'

type Reply = { id: number; values?: Float32Array; error?: string; ready?: boolean }

/**
 * How to start a worker: the built file beside the bundle, or from a checkout the TypeScript
 * source behind a bootstrap that registers tsx first (Node 20 does not apply `--import` loaders
 * to a worker's own entry file).
 */
function workerEntry(): { code: string; eval: boolean } | null {
  const here = import.meta.url
  if (here.endsWith('.ts')) {
    // The ES module entry of tsx's API (require.resolve would give its CommonJS twin).
    const tsx = pathToFileURL(
      createRequire(here)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs')
    ).href
    const entry = new URL('./worker.ts', here).href
    return { code: `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}) })`, eval: true }
  }
  for (const candidate of ['./prefix-worker.js', '../prefix-worker.js']) {
    const file = fileURLToPath(new URL(candidate, here))
    if (fs.existsSync(file)) return { code: file, eval: false }
  }
  return null
}

export class PrefixPool implements PrefixRunner {
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void }>()
  private readonly idle: Worker[] = []
  private readonly queue: Array<() => void> = []

  private constructor(private readonly workers: Worker[]) {
    this.idle.push(...workers)
    for (const worker of workers) {
      worker.on('message', (reply: Reply) => {
        if (reply.ready) return
        const job = this.waiting.get(reply.id)
        this.waiting.delete(reply.id)
        if (reply.values) job?.resolve(reply.values)
        else job?.reject(new Error(reply.error ?? 'the worker failed'))
        this.idle.push(worker)
        this.queue.shift()?.()
      })
    }
  }

  /** Null when fewer than two cores, or when workers cannot start here. */
  static async create(
    { model: prefix, size, preprocess }: Pick<PrefixSpec, 'model' | 'size' | 'preprocess'>,
    threads = os.availableParallelism()
  ): Promise<PrefixPool | null> {
    const entry = workerEntry()
    if (threads < 2 || !entry) return null
    let artifacts: tf.io.ModelArtifacts | undefined
    await prefix.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = { ...a, weightData: tf.io.CompositeArrayBuffer.join(a.weightData ?? new ArrayBuffer(0)) }
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
      })
    )
    const workers = Array.from({ length: threads }, () => new Worker(entry.code, { eval: entry.eval, workerData: { artifacts, size, preprocess } }))
    try {
      await Promise.all(
        workers.map(
          (worker) =>
            new Promise<void>((resolve, reject) => {
              worker.once('error', reject)
              worker.once('exit', (code) => reject(new Error(`worker exited with code ${code}`)))
              worker.once('message', (m: Reply) => (m.ready ? resolve() : reject(new Error('worker did not start'))))
            })
        )
      )
    } catch (error) {
      if (environment.debug()) console.error('prefix pool:', error)
      await Promise.all(workers.map((w) => w.terminate()))
      return null
    }
    for (const worker of workers) worker.removeAllListeners('exit').removeAllListeners('error')
    return new PrefixPool(workers)
  }

  get parallel(): number {
    return this.workers.length
  }

  get description(): string {
    return `tfjs-wasm on ${this.workers.length} worker threads`
  }

  async run(pixels: Uint8Array | Float32Array, count: number): Promise<Float32Array> {
    // A freed worker can be taken by another caller before a woken one runs: check again.
    while (this.idle.length === 0) await new Promise<void>((resolve) => this.queue.push(resolve))
    const worker = this.idle.pop()!
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      worker.postMessage({ id, pixels, count })
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}
