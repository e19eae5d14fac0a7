// Runs the frozen prefix once per image and keeps its outputs, so every epoch after the first
// trains the head alone (what Teachable Machine does, and what Keras users do by hand with
// predict() + a second model). Rows live in memory within a budget and spill to a file beyond it.
// The key names everything the outputs depend on: change any of it and the cache is not used.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { z } from 'zod'
import type { PreprocessMode } from '../../shared/protocol'
import { describeRef, type LabelledImage } from '../datasets/types'
import { writeFileAtomic } from '../util/atomic'
import { readJsonFile } from '../util/safe-read'
import { mapLimit } from '../util/concurrency'
import { decodeBatch, type OnBroken } from './pixels'
import type { PrefixRunner } from '../prefix/runner'

/** Rows of floats, one per image, in memory or in a file. */
export class FeatureStore {
  private constructor(
    readonly count: number,
    readonly rowLength: number,
    private readonly memory: Float32Array | null,
    private readonly fd: number | null,
    readonly file: string | null
  ) {}

  static inMemory(count: number, rowLength: number): FeatureStore {
    return new FeatureStore(count, rowLength, new Float32Array(count * rowLength), null, null)
  }

  static onDisk(file: string, count: number, rowLength: number, mode: 'r' | 'w+'): FeatureStore {
    return new FeatureStore(count, rowLength, null, fs.openSync(file, mode), file)
  }

  get bytes(): number {
    return this.count * this.rowLength * 4
  }

  write(row: number, values: Float32Array): void {
    if (this.memory) this.memory.set(values, row * this.rowLength)
    else fs.writeSync(this.fd!, values, 0, values.byteLength, row * this.rowLength * 4)
  }

  /** The given rows, one after another (into `out` when given: rows.length rows long). */
  read(rows: readonly number[], out: Float32Array = new Float32Array(rows.length * this.rowLength)): Float32Array {
    if (out.length !== rows.length * this.rowLength) throw new Error(`${rows.length} rows need ${rows.length * this.rowLength} floats, not ${out.length}`)
    rows.forEach((row, i) => {
      if (this.memory) {
        out.set(this.memory.subarray(row * this.rowLength, (row + 1) * this.rowLength), i * this.rowLength)
      } else {
        const view = new Uint8Array(out.buffer, i * this.rowLength * 4, this.rowLength * 4)
        fs.readSync(this.fd!, view, 0, view.byteLength, row * this.rowLength * 4)
      }
    })
    return out
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd)
  }
}

export interface CachedFeatures {
  store: FeatureStore
  labels: Int32Array
  /** The image each row came from (broken images have no row). */
  files: string[]
}

/** Identity of a cache entry: the images and everything the frozen prefix does to them. */
export function featureCacheKey(parts: {
  backbone: string
  cutLayer: string
  preprocess: PreprocessMode
  inputSize: number
  prefixWeights: string
  items: readonly LabelledImage[]
}): string {
  const hash = createHash('sha256')
  hash.update(JSON.stringify([parts.backbone, parts.cutLayer, parts.preprocess, parts.inputSize, parts.prefixWeights]))
  for (const { ref, label } of parts.items) {
    if (ref.kind === 'file') hash.update(`${ref.path}\0${ref.size}\0${ref.mtimeMs}\0${label}\n`)
    else hash.update(`${ref.file}#${ref.record}\0${label}\0`).update(ref.planes)
  }
  return hash.digest('hex').slice(0, 32)
}

/** A digest of a model's weights, so a cache made with other weights is never used. */
export function weightsDigest(model: tf.LayersModel): string {
  const hash = createHash('sha256')
  for (const weight of model.weights) {
    const values = weight.read().dataSync() as Float32Array
    // originalName: tfjs suffixes `name` (conv1/kernel_1, …) each time a model is loaded in a process.
    hash.update(weight.originalName).update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
  }
  return hash.digest('hex')
}

export interface ExtractOptions {
  key: string
  size: number
  batchSize: number
  budgetBytes: number
  /** Folder for spilled features. */
  cacheDir: string
  onProgress?: (done: number, total: number) => void
  onBroken: OnBroken
  /** Told when a cache on disk is damaged and is being rebuilt. */
  onNotice?: (message: string) => void
  signal?: AbortSignal
  /** What runs the prefix; asked for only when features must be computed. */
  runner: () => Promise<PrefixRunner>
  /** In-memory features of recent runs to reuse (the engine session's); none kept when absent. */
  memo?: FeatureMemo
}

interface DiskIndex {
  key: string
  count: number
  rowLength: number
  labels: number[]
  files: string[]
  sha256: string
}

const MAX_INDEX_BYTES = 512 * 1024 * 1024

/**
 * In-memory features of the last few runs (the app trains many times on one dataset). Owned by
 * the engine session, so a fresh session (and every test) starts without any.
 */
export class FeatureMemo {
  private readonly recent = new Map<string, CachedFeatures>()
  constructor(private readonly entries = 2) {}

  get(key: string): CachedFeatures | undefined {
    return this.recent.get(key)
  }

  remember(key: string, features: CachedFeatures): void {
    this.recent.set(key, features)
    while (this.recent.size > this.entries) this.recent.delete(this.recent.keys().next().value!)
  }

  clear(): void {
    this.recent.clear()
  }
}

/** Why extraction ended early: the run was asked to stop (not a failure). */
export class ExtractionStopped extends Error {
  override name = 'ExtractionStopped'
}

/** `featureShape`: the shape of one prefix output. */
export async function extractFeatures(featureShape: readonly number[], items: readonly LabelledImage[], options: ExtractOptions): Promise<CachedFeatures> {
  const memo = options.memo?.get(options.key)
  if (memo) return memo
  const rowLength = featureShape.reduce((a, b) => a * b, 1)
  const fromDisk = await openSpilled(options, rowLength, items)
  if (fromDisk) return fromDisk

  const spill = items.length * rowLength * 4 > options.budgetBytes
  const dataFile = path.join(options.cacheDir, `${options.key}.f32`)
  if (spill) await fsp.mkdir(options.cacheDir, { recursive: true })
  const partial = `${dataFile}.partial-${process.pid}`
  const store = spill ? FeatureStore.onDisk(partial, items.length, rowLength, 'w+') : FeatureStore.inMemory(items.length, rowLength)

  const labels: number[] = []
  const files: string[] = []
  const runner = await options.runner()
  const batches = Math.ceil(items.length / options.batchSize)
  const decode = (b: number) => decodeBatch(items.slice(b * options.batchSize, (b + 1) * options.batchSize), options.size, options.onBroken)
  // Batches finish out of order when workers run them; rows are written in dataset order.
  const finished = new Map<number, { kept: number[]; values: Float32Array }>()
  let nextToWrite = 0
  // Set when extraction failed or stopped: batches still in flight then write nothing to the closed store.
  let abandoned = false
  const flush = (): void => {
    for (let done = finished.get(nextToWrite); done; done = finished.get(nextToWrite)) {
      finished.delete(nextToWrite)
      done.kept.forEach((k, i) => {
        const item = items[nextToWrite * options.batchSize + k]
        store.write(labels.length, done.values.subarray(i * rowLength, (i + 1) * rowLength))
        labels.push(item.label)
        files.push(describeRef(item.ref))
      })
      nextToWrite++
      options.onProgress?.(Math.min(nextToWrite * options.batchSize, items.length), items.length)
    }
  }
  try {
    // Decoding (sharp's threads) overlaps the prefix: one batch more in flight than runs at once.
    await mapLimit(
      Array.from({ length: batches }, (_, b) => b),
      runner.parallel + 1,
      async (b) => {
        if (options.signal?.aborted) throw new ExtractionStopped('Stopped while computing features')
        const batch = await decode(b)
        const values = batch.kept.length > 0 ? await runner.run(batch.pixels, batch.kept.length) : new Float32Array(0)
        if (abandoned) return
        finished.set(b, { kept: batch.kept, values })
        flush()
      }
    )
  } catch (error) {
    abandoned = true
    store.close()
    if (spill) await fsp.rm(partial, { force: true })
    throw error
  }

  let result: CachedFeatures
  if (spill) {
    store.close()
    // Rows of broken images were never written: the file holds exactly labels.length rows.
    await fsp.truncate(partial, labels.length * rowLength * 4)
    const sha256 = await fileDigest(partial)
    await fsp.rename(partial, dataFile)
    const index: DiskIndex = { key: options.key, count: labels.length, rowLength, labels, files, sha256 }
    await writeFileAtomic(path.join(options.cacheDir, `${options.key}.json`), JSON.stringify(index))
    result = { store: FeatureStore.onDisk(dataFile, labels.length, rowLength, 'r'), labels: Int32Array.from(labels), files }
  } else {
    result = { store: compact(store, labels.length), labels: Int32Array.from(labels), files }
    options.memo?.remember(options.key, result)
  }
  return result
}

function compact(store: FeatureStore, count: number): FeatureStore {
  if (count === store.count) return store
  const out = FeatureStore.inMemory(count, store.rowLength)
  for (let row = 0; row < count; row++) out.write(row, store.read([row]))
  return out
}

const DiskIndexSchema = z.object({
  key: z.string().max(100),
  count: z.number().int().min(0),
  rowLength: z.number().int().min(1),
  labels: z.array(z.number().int().min(0)),
  files: z.array(z.string().max(8192)),
  sha256: z.string().regex(/^[0-9a-f]{64}$/)
})

/**
 * A spilled cache from an earlier run, if it is complete, describes these images (as many rows,
 * labels they can have, rows of this length) and its checksum matches.
 */
async function openSpilled(options: ExtractOptions, rowLength: number, items: readonly LabelledImage[]): Promise<CachedFeatures | null> {
  const indexFile = path.join(options.cacheDir, `${options.key}.json`)
  const dataFile = path.join(options.cacheDir, `${options.key}.f32`)
  let raw: unknown
  try {
    raw = await readJsonFile(indexFile, MAX_INDEX_BYTES)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    raw = null // unreadable or not JSON: damaged, handled below
  }
  const parsed = DiskIndexSchema.safeParse(raw)
  const index: DiskIndex | null = parsed.success ? parsed.data : null
  const maxLabel = items.reduce((max, item) => Math.max(max, item.label), 0)
  // lstat: only a regular file of ours is hashed and opened (a FIFO there would block for good).
  const stat = await fsp.lstat(dataFile).catch(() => null)
  const sane =
    index !== null &&
    stat?.isFile() === true &&
    index.key === options.key &&
    index.rowLength === rowLength &&
    index.count <= items.length &&
    index.labels.length === index.count &&
    index.files.length === index.count &&
    index.labels.every((label) => label <= maxLabel) &&
    stat.size === index.count * index.rowLength * 4
  if (!sane || (await fileDigest(dataFile)) !== index.sha256) {
    // Damaged or incomplete: extract again rather than train on wrong numbers.
    options.onNotice?.(`The feature cache ${dataFile} is damaged (checksum or size differs): computing the features again`)
    await Promise.all([fsp.rm(indexFile, { force: true }), fsp.rm(dataFile, { force: true })])
    return null
  }
  return { store: FeatureStore.onDisk(dataFile, index!.count, index!.rowLength, 'r'), labels: Int32Array.from(index!.labels), files: index!.files }
}

async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
