// One file from a URL (or a local mirror folder) onto disk: with progress, resumable (what arrived
// of a broken transfer is kept as <file>.part and the next attempt asks only for the rest), and
// checked for its size and MD5 where they are known before anything reads it. The Keras weights
// and the sample dataset both come through here.
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { DownloadProgress } from '../../shared/protocol'
import { openResource, ProgressReporter, WeightsError } from '../backbones/weights'

const IDLE_TIMEOUT_MS = 60_000

export interface FileToDownload {
  url: string
  /** Where the checked file ends up; `<dest>.part` holds it while it arrives. */
  dest: string
  bytes: number | null
  md5: string | null
  /** Names the download in progress events (the backbone id, or the sample's name). */
  id: string
  label?: string
  /** Appended to the error when the file cannot be had: what to do without internet. */
  offlineHint: string
  /** "the weights of resnet50", "the sample dataset": in errors. */
  what: string
}

export interface DownloadOptions {
  onProgress?: (progress: DownloadProgress) => void
  idleTimeoutMs?: number
}

async function md5Of(file: string): Promise<string> {
  const hash = createHash('md5')
  await pipeline(createReadStream(file), hash)
  return hash.digest('hex')
}

async function sizeOf(file: string): Promise<number | null> {
  return (await fs.stat(file).catch(() => null))?.size ?? null
}

/** Throws, and removes the file (ours: we downloaded it), when it is not the one expected. */
export async function verifyDownload(file: string, expected: FileToDownload): Promise<void> {
  const name = path.basename(expected.dest)
  const size = await sizeOf(file)
  if (expected.bytes !== null && size !== expected.bytes) {
    await fs.rm(file, { force: true })
    throw new WeightsError(`${expected.url} gave ${size} bytes but ${name} has ${expected.bytes}: the download was refused and removed`)
  }
  if (expected.md5 !== null) {
    const md5 = await md5Of(file)
    if (md5 !== expected.md5) {
      await fs.rm(file, { force: true })
      throw new WeightsError(`${expected.url} has MD5 ${md5} but ${name} has ${expected.md5}: the download was refused and removed`)
    }
  }
}

/** The path of the checked file, downloading (or finishing a broken download of) it first. */
export async function downloadFile(file: FileToDownload, options: DownloadOptions = {}): Promise<string> {
  const { url, dest } = file
  if ((await sizeOf(dest)) !== null) {
    // A previous attempt downloaded and checked it but stopped before using it.
    await verifyDownload(dest, file)
    return dest
  }
  await fs.mkdir(path.dirname(dest), { recursive: true })
  const part = `${dest}.part`
  const progress = new ProgressReporter(file.id, options.onProgress, { copying: url.startsWith('file:'), label: file.label })
  const held = (await sizeOf(part)) ?? 0
  let resource
  try {
    resource = await openResource(url, options.idleTimeoutMs ?? IDLE_TIMEOUT_MS, held)
  } catch (error) {
    throw new WeightsError(`Could not get ${file.what} from ${url}: ${(error as Error).message}. ${file.offlineHint}`)
  }
  const { stream, length, offset, abort } = resource
  const total = file.bytes ?? (length !== null ? offset + length : null)
  if (total !== null) progress.expect(total)
  const name = path.basename(dest)
  progress.resumeFrom(name, offset)
  let bytes = offset
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length
      progress.add(name, chunk.length)
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
  await verifyDownload(part, file)
  await fs.rename(part, dest)
  return dest
}
