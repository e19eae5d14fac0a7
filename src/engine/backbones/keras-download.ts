// Downloads one official Keras .h5 weights file: with progress, resumable (what arrived of a
// broken transfer is kept as <file>.part and the next attempt asks only for the rest), and
// checked for its size and MD5 (the hashes Keras itself checks) before anything reads it.
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { pathToFileURL } from 'node:url'
import { environment } from '../environment'
import { studioHome } from '../home'
import { KERAS_WEIGHTS_BASE, type BackboneSpec, type KerasWeightsFile } from './registry'
import { openResource, ProgressReporter, WeightsError, type WeightsOptions } from './weights'

const IDLE_TIMEOUT_MS = 60_000

/** The file's URL: the official one, or the same relative path under a weights mirror (URL or folder). */
export function kerasFileUrl(file: KerasWeightsFile, mirror = environment.weightsMirror()): string {
  if (!mirror) return KERAS_WEIGHTS_BASE + file.path
  if (/^(https?|file):/i.test(mirror)) return new URL(file.path, mirror.endsWith('/') ? mirror : `${mirror}/`).href
  return pathToFileURL(path.join(path.resolve(mirror), ...file.path.split('/'))).href
}

export function downloadsDir(home = studioHome()): string {
  return path.join(home, 'weights', 'downloads')
}

async function md5Of(file: string): Promise<string> {
  const hash = createHash('md5')
  await pipeline(createReadStream(file), hash)
  return hash.digest('hex')
}

async function sizeOf(file: string): Promise<number | null> {
  return (await fs.stat(file).catch(() => null))?.size ?? null
}

/** Throws, and removes the file (ours: we downloaded it), when it is not the one Keras publishes. */
async function verify(file: string, expected: KerasWeightsFile, url: string): Promise<void> {
  const size = await sizeOf(file)
  if (expected.bytes !== null && size !== expected.bytes) {
    await fs.rm(file, { force: true })
    throw new WeightsError(`${url} gave ${size} bytes but ${path.basename(expected.path)} has ${expected.bytes}: the download was refused and removed`)
  }
  if (expected.md5 !== null) {
    const md5 = await md5Of(file)
    if (md5 !== expected.md5) {
      await fs.rm(file, { force: true })
      throw new WeightsError(`${url} has MD5 ${md5} but ${path.basename(expected.path)} has ${expected.md5}: the download was refused and removed`)
    }
  }
}

/** The path of the checked .h5 file, downloading (or finishing a broken download of) it first. */
export async function downloadKerasFile(spec: BackboneSpec, file: KerasWeightsFile, options: WeightsOptions = {}): Promise<string> {
  const url = kerasFileUrl(file, options.mirror)
  const dest = path.join(downloadsDir(options.home), path.basename(file.path))
  if ((await sizeOf(dest)) !== null) {
    // A previous run downloaded and checked it but stopped before converting it.
    await verify(dest, file, url)
    return dest
  }
  await fs.mkdir(path.dirname(dest), { recursive: true })
  const part = `${dest}.part`
  const progress = new ProgressReporter(spec.id, options.onProgress)
  const held = (await sizeOf(part)) ?? 0
  let resource
  try {
    resource = await openResource(url, options.idleTimeoutMs ?? IDLE_TIMEOUT_MS, held)
  } catch (error) {
    throw new WeightsError(
      `Could not get the weights of ${spec.id} from ${url}: ${(error as Error).message}. ` +
        `Without internet access, put ${file.path} under a folder and set TRANSFER_STUDIO_WEIGHTS=<folder>.`
    )
  }
  const { stream, length, offset, abort } = resource
  const total = file.bytes ?? (length !== null ? offset + length : null)
  if (total !== null) progress.expect(total)
  progress.add(path.basename(file.path), offset)
  let bytes = offset
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length
      progress.add(path.basename(file.path), chunk.length)
      done(null, chunk)
    }
  })
  try {
    // The server may ignore the range and send everything: then start the file again.
    await pipeline(stream, counter, createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }))
  } catch (error) {
    throw new WeightsError(
      `The transfer of ${url} broke off after ${bytes}${total !== null ? ` of ${total}` : ''} bytes (${(error as Error).message}); ` +
        `the ${bytes} bytes are kept in ${part} and the next attempt continues from there`
    )
  } finally {
    abort()
  }
  if (length !== null && bytes !== offset + length) {
    throw new WeightsError(`The transfer of ${url} was interrupted at ${bytes} of ${offset + length} bytes; the next attempt continues from there`)
  }
  await verify(part, file, url)
  await fs.rename(part, dest)
  return dest
}
