// Downloads a backbone's TensorFlow.js files once and keeps them under the studio home.
// A download goes into a private temporary folder and is checked (every byte the server promised
// arrived; the weight files hold exactly the bytes model.json describes) before one rename makes it
// the cache entry, so a half-downloaded file is never used. Each cached file's SHA-256 is recorded
// and checked on every load, so a file damaged later is noticed too.
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { z } from 'zod'
import { FileRecord, type DownloadProgress } from '../../shared/protocol'
import { TransferSpeed } from './transfer-speed'
import { environment } from '../environment'
import { studioHome } from '../home'
import { replaceDir, stagingDir } from '../util/atomic'
import { readJsonFile, readRegularFile, UnsafeFileError } from '../util/safe-read'
import type { BackboneSpec } from './registry'

export const CACHE_MANIFEST = 'cache-manifest.json'
const IDLE_TIMEOUT_MS = 60_000
const PROGRESS_INTERVAL_MS = 100

export class WeightsError extends Error {
  override name = 'WeightsError'
}

/** A cached file no longer matches what was downloaded. */
export class CorruptCacheError extends WeightsError {
  override name = 'CorruptCacheError'
}

export interface WeightsOptions {
  /** Defaults to TRANSFER_STUDIO_HOME or the app's data folder. */
  home?: string
  /** A local folder or base URL holding <backbone-id>/model.json; defaults to TRANSFER_STUDIO_WEIGHTS. */
  mirror?: string
  onProgress?: (progress: DownloadProgress) => void
  idleTimeoutMs?: number
}

export interface CachedFile {
  name: string
  bytes: number
  sha256: string
}

export interface CacheManifest {
  backbone: string
  source: string
  files: CachedFile[]
}

interface WeightGroup {
  paths: string[]
  weights: Array<{ name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }>
}

export interface ModelJson {
  modelTopology: unknown
  weightsManifest: WeightGroup[]
  format?: string
}

export function cacheDir(spec: BackboneSpec, home = studioHome()): string {
  return path.join(home, 'weights', spec.id)
}

export function modelJsonUrl(spec: BackboneSpec, mirror = environment.weightsMirror()): string {
  if (!mirror) return spec.url
  if (/^(https?|file):/i.test(mirror)) return new URL(`${spec.id}/model.json`, mirror.endsWith('/') ? mirror : `${mirror}/`).href
  return pathToFileURL(path.join(path.resolve(mirror), spec.id, 'model.json')).href
}

export async function isCached(spec: BackboneSpec, home = studioHome()): Promise<boolean> {
  return (await readManifest(cacheDir(spec, home))) !== null
}

/** The cache folder of `spec`, downloading into it first when it is missing or incomplete. */
export async function ensureWeights(spec: BackboneSpec, options: WeightsOptions = {}): Promise<string> {
  const dir = cacheDir(spec, options.home)
  if (await isComplete(dir)) return dir
  return download(spec, dir, options)
}

const CacheManifestSchema = z.object({
  backbone: z.string().max(100),
  source: z.string().max(4096),
  files: z.array(FileRecord).min(1).max(1000)
})

/** A cache entry whose manifest is readable and whose files have the recorded sizes. */
export async function isComplete(dir: string): Promise<boolean> {
  const manifest = await readManifest(dir)
  return manifest !== null && (await sizesMatch(dir, manifest))
}

/** The cache's manifest, or null when it is missing or not one we wrote (the entry is then fetched again). */
export async function readManifest(dir: string): Promise<CacheManifest | null> {
  try {
    const parsed = CacheManifestSchema.safeParse(await readJsonFile(path.join(dir, CACHE_MANIFEST), 16 * 1024 * 1024))
    return parsed.success ? parsed.data : null
  } catch {
    return null
  }
}

async function sizesMatch(dir: string, manifest: CacheManifest): Promise<boolean> {
  for (const file of manifest.files) {
    const stat = await fs.stat(path.join(dir, file.name)).catch(() => null)
    if (stat?.size !== file.bytes) return false
  }
  return true
}

async function download(spec: BackboneSpec, dir: string, options: WeightsOptions): Promise<string> {
  const url = modelJsonUrl(spec, options.mirror)
  const tmp = await stagingDir(dir)
  const progress = new ProgressReporter(spec.id, options.onProgress, { copying: url.startsWith('file:'), label: `${spec.id} weights` })
  try {
    const files = [await fetchToFile(url, tmp, 'model.json', progress, options)]
    const modelJson = parseModelJson(await fs.readFile(path.join(tmp, 'model.json'), 'utf8'), url)
    progress.expect(modelJson.weightsManifest.reduce((sum, group) => sum + groupBytes(group), 0))
    for (const group of modelJson.weightsManifest) {
      const groupFiles: CachedFile[] = []
      for (const name of group.paths) groupFiles.push(await fetchToFile(new URL(plainName(name, url), url).href, tmp, name, progress, options))
      const got = groupFiles.reduce((sum, f) => sum + f.bytes, 0)
      if (got !== groupBytes(group)) {
        throw new WeightsError(
          `${group.paths.join(', ')} from ${url} hold ${got} bytes but model.json describes ${groupBytes(group)}: the files are damaged or do not belong to this model`
        )
      }
      files.push(...groupFiles)
    }
    const manifest: CacheManifest = { backbone: spec.id, source: url, files }
    await fs.writeFile(path.join(tmp, CACHE_MANIFEST), JSON.stringify(manifest, null, 2))
    // Another process may have finished the same download first: keep theirs.
    // The folder is ours by where it is (<home>/weights/<id>): only the engine writes there.
    await replaceDir(tmp, dir, { owned: async () => null, accept: async () => (await readManifest(dir)) !== null })
    return dir
  } catch (error) {
    await fs.rm(tmp, { recursive: true, force: true })
    if (error instanceof WeightsError) throw error
    throw new WeightsError(
      `Could not get the weights of ${spec.id} from ${url}: ${(error as Error).message}. ` +
        `Without internet access, put model.json and its weight files in <folder>/${spec.id}/ and set TRANSFER_STUDIO_WEIGHTS=<folder>.`
    )
  }
}

/** A weight path from model.json becomes a file in our cache: it must not climb out of it. */
function plainName(name: string, url: string): string {
  if (name !== path.basename(name) || name === '..' || name === '.' || name === CACHE_MANIFEST || name.includes('\\')) {
    throw new WeightsError(`model.json at ${url} names the weight file "${name}", which is not a plain file name`)
  }
  return name
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 }

function groupBytes(group: WeightGroup): number {
  return group.weights.reduce((sum, w) => {
    const dtype = w.quantization?.dtype ?? w.dtype
    return sum + w.shape.reduce((n, d) => n * d, 1) * (DTYPE_BYTES[dtype] ?? 4)
  }, 0)
}

export function parseModelJson(text: string, from: string): ModelJson {
  let parsed: ModelJson
  try {
    parsed = JSON.parse(text) as ModelJson
  } catch {
    throw new WeightsError(`${from} is not valid JSON (the download may have returned an error page)`)
  }
  if (!parsed || typeof parsed !== 'object' || !parsed.modelTopology || !Array.isArray(parsed.weightsManifest)) {
    throw new WeightsError(`${from} is not a TensorFlow.js layers model (it needs modelTopology and weightsManifest)`)
  }
  return parsed
}

/** Streams one file into `dir`, hashing on the way, and checks that every promised byte arrived. */
async function fetchToFile(url: string, dir: string, name: string, progress: ProgressReporter, options: WeightsOptions): Promise<CachedFile> {
  const hash = createHash('sha256')
  let bytes = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      bytes += chunk.length
      progress.add(name, chunk.length)
      done(null, chunk)
    }
  })
  const { stream, length, abort } = await openResource(url, options.idleTimeoutMs ?? IDLE_TIMEOUT_MS)
  try {
    await pipeline(stream, counter, createWriteStream(path.join(dir, name)))
  } catch (error) {
    throw new Error(`the transfer of ${url} broke off after ${bytes}${length !== null ? ` of ${length}` : ''} bytes (${(error as Error).message})`)
  } finally {
    abort()
  }
  if (length !== null && bytes !== length) {
    throw new Error(`the transfer of ${url} was interrupted: ${bytes} of ${length} bytes arrived`)
  }
  return { name, bytes, sha256: hash.digest('hex') }
}

export interface Resource {
  stream: Readable
  /** Bytes the stream will deliver, when the server says. */
  length: number | null
  /** Where in the file the stream starts: `start` when the server honoured the range, else 0. */
  offset: number
  abort: () => void
}

/** Opens `url` for reading from byte `start` on (a resumed download), or from its beginning. */
export async function openResource(url: string, idleTimeoutMs: number, start = 0): Promise<Resource> {
  if (url.startsWith('file:')) {
    const file = fileURLToPath(url)
    const stat = await fs.stat(file).catch(() => {
      throw new Error(`${file} does not exist`)
    })
    // A FIFO or a device in the mirror would be read forever.
    if (!stat.isFile()) throw new Error(`${file} is not a regular file`)
    const offset = start <= stat.size ? start : 0
    return { stream: createReadStream(file, { start: offset }), length: stat.size - offset, offset, abort: () => {} }
  }
  // A stalled server must not hang the app forever: abort when no byte arrives for a while.
  const controller = new AbortController()
  let timer = setTimeout(() => controller.abort(new Error(`no data for ${idleTimeoutMs / 1000} s`)), idleTimeoutMs)
  const touch = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => controller.abort(new Error(`no data for ${idleTimeoutMs / 1000} s`)), idleTimeoutMs)
  }
  let response: Response
  try {
    response = await fetch(url, { signal: controller.signal, headers: start > 0 ? { range: `bytes=${start}-` } : {} })
    // 416: nothing left after `start` by the server's count; the part held is not this file.
    if (response.status === 416) {
      await response.body?.cancel()
      response = await fetch(url, { signal: controller.signal })
    }
  } catch (error) {
    clearTimeout(timer)
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    throw new Error(cause?.code ? `network error ${cause.code}` : (cause?.message ?? (error as Error).message))
  }
  if (!response.ok || !response.body) {
    clearTimeout(timer)
    throw new Error(`the server answered HTTP ${response.status} ${response.statusText}`.trim())
  }
  const header = response.headers.get('content-length')
  const stream = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)
  stream.on('data', touch)
  return {
    stream,
    length: header !== null ? Number(header) : null,
    offset: response.status === 206 ? start : 0,
    abort: () => clearTimeout(timer)
  }
}

export interface VerifiedModelFiles {
  modelJson: ModelJson
  /** The weight files of every group, concatenated in manifest order. */
  weightData: ArrayBuffer
}

/** Reads a cache entry, checking each file against the SHA-256 recorded when it was downloaded. */
export async function readVerified(dir: string): Promise<VerifiedModelFiles> {
  const manifest = await readManifest(dir)
  if (!manifest) throw new CorruptCacheError(`${path.join(dir, CACHE_MANIFEST)} is missing or unreadable`)
  const contents = new Map<string, Buffer>()
  for (const file of manifest.files) {
    // Plain names only (the schema says so), regular files of the recorded size: a manifest naming
    // ../../dev/zero reads nothing.
    const full = path.join(dir, file.name)
    const data = await readRegularFile(full, { maxBytes: file.bytes, expectedBytes: file.bytes }).catch((error: Error) => {
      throw new CorruptCacheError(
        error instanceof UnsafeFileError ? `${full} in the weights cache: ${error.reason}` : `${full} is missing from the weights cache`
      )
    })
    if (createHash('sha256').update(data).digest('hex') !== file.sha256) {
      throw new CorruptCacheError(`${full} does not match the file that was downloaded (checksum differs)`)
    }
    contents.set(file.name, data)
  }
  const modelJson = parseModelJson(contents.get('model.json')!.toString('utf8'), path.join(dir, 'model.json'))
  const shards = modelJson.weightsManifest.flatMap((group) => group.paths.map((name) => contents.get(name)!))
  const all = Buffer.concat(shards)
  return { modelJson, weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer }
}

export async function removeCache(spec: BackboneSpec, home = studioHome()): Promise<void> {
  await fs.rm(cacheDir(spec, home), { recursive: true, force: true })
}

/** Tells the listener how far a download has got, at most every PROGRESS_INTERVAL_MS, with its speed and time left. */
export class ProgressReporter {
  private bytes = 0
  private total: number | null = null
  private last = 0
  private readonly speed = new TransferSpeed()
  constructor(
    private readonly backbone: string,
    private readonly listener?: (progress: DownloadProgress) => void,
    private readonly describe: { copying?: boolean; label?: string } = {}
  ) {}

  expect(weightBytes: number): void {
    this.total = this.bytes + weightBytes
  }

  /** Bytes already held from an earlier attempt: counted in the total, not in the speed. */
  resumeFrom(file: string, held: number): void {
    this.bytes += held
    this.speed.skip(held)
    if (held > 0) this.report(file, true)
  }

  add(file: string, chunk: number): void {
    this.bytes += chunk
    this.speed.sample(this.bytes)
    this.report(file, this.bytes === this.total)
  }

  private report(file: string, force: boolean): void {
    const now = Date.now()
    if (!this.listener || (now - this.last < PROGRESS_INTERVAL_MS && !force)) return
    this.last = now
    const bytesPerSecond = this.speed.bytesPerSecond()
    const left = this.total !== null ? Math.max(0, this.total - this.bytes) : null
    this.listener({
      backbone: this.backbone,
      file,
      bytes: this.bytes,
      totalBytes: this.total,
      action: this.describe.copying ? 'copying' : 'downloading',
      ...(this.describe.label ? { label: this.describe.label } : {}),
      bytesPerSecond,
      secondsLeft: left !== null && bytesPerSecond ? left / bytesPerSecond : left === 0 ? 0 : null,
      done: this.total !== null && this.bytes >= this.total
    })
  }
}
