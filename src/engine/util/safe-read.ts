// Reading a file that anyone could have put there (a user's image, or a file we wrote that could
// have been edited since): only regular files are read, never more than a stated number of bytes,
// and never by waiting forever. A FIFO, a device such as /dev/zero or a socket is refused before
// a byte is read: the file is opened without blocking and checked with fstat on that very handle,
// so nothing can be swapped in between the check and the read.
import { constants } from 'node:fs'
import fs from 'node:fs/promises'
import type { Stats } from 'node:fs'

/** Reading one file may take this long before it is given up (a hung network share, a stuck FUSE mount). */
export const READ_TIMEOUT_MS = 30_000

/** Why a file was not read: what it is, its size, or the time it took. */
export type UnsafeKind = 'not-regular' | 'link' | 'size-differs' | 'too-large' | 'timeout' | 'not-json'

export class UnsafeFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly kind: UnsafeKind
  ) {
    super(`${file}: ${reason}`)
    this.name = 'UnsafeFileError'
  }
}

export interface SafeReadOptions {
  /** Larger files are refused before reading. */
  maxBytes: number
  /** The size the file must have (a manifest said so), checked before reading. */
  expectedBytes?: number
  timeoutMs?: number
  /** A symbolic link as the last part of the path is refused unless this is set (dataset images may be links). */
  followLinks?: boolean
  signal?: AbortSignal
}

/** What a non-regular file is, in words. */
export function describeKind(stat: Stats): string {
  if (stat.isDirectory()) return 'a folder'
  if (stat.isFIFO()) return 'a named pipe (FIFO)'
  if (stat.isCharacterDevice()) return 'a character device'
  if (stat.isBlockDevice()) return 'a block device'
  if (stat.isSocket()) return 'a socket'
  if (stat.isSymbolicLink()) return 'a symbolic link'
  return 'not a regular file'
}

/** The whole of `file`, if it is a regular file within the limits. */
export async function readRegularFile(file: string, options: SafeReadOptions): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? READ_TIMEOUT_MS
  return withTimeout(
    readChecked(file, options),
    timeoutMs,
    options.signal,
    () => new UnsafeFileError(file, `reading it took longer than ${timeoutMs / 1000} s`, 'timeout')
  )
}

/** The file read as UTF-8 text and parsed as JSON; a file that is not JSON says so with its name. */
export async function readJsonFile(file: string, maxBytes: number): Promise<unknown> {
  const text = (await readRegularFile(file, { maxBytes })).toString('utf8')
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new UnsafeFileError(file, `not valid JSON (${(error as Error).message})`, 'not-json')
  }
}

/** The first `bytes` bytes of a regular file (fewer if it is shorter) and its fstat. */
export async function readRegularHead(file: string, bytes: number, options: Omit<SafeReadOptions, 'maxBytes'> = {}): Promise<{ head: Buffer; stat: Stats }> {
  const timeoutMs = options.timeoutMs ?? READ_TIMEOUT_MS
  const work = (async () => {
    const { handle, stat } = await openRegular(file, options.followLinks ?? false)
    try {
      const head = Buffer.alloc(Math.min(bytes, stat.size))
      const { bytesRead } = await handle.read(head, 0, head.length, 0)
      return { head: head.subarray(0, bytesRead), stat }
    } finally {
      await handle.close()
    }
  })()
  return withTimeout(work, timeoutMs, options.signal, () => new UnsafeFileError(file, `reading it took longer than ${timeoutMs / 1000} s`, 'timeout'))
}

async function openRegular(file: string, followLinks: boolean): Promise<{ handle: fs.FileHandle; stat: Stats }> {
  // O_NOFOLLOW and O_NONBLOCK do not exist on Windows, where neither FIFOs nor this trick apply.
  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (followLinks ? 0 : (constants.O_NOFOLLOW ?? 0))
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, flags)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new UnsafeFileError(file, 'a symbolic link, which is not followed here', 'link')
    throw error
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw new UnsafeFileError(file, `not a regular file: it is ${describeKind(stat)}`, 'not-regular')
    return { handle, stat }
  } catch (error) {
    await handle.close()
    throw error
  }
}

async function readChecked(file: string, options: SafeReadOptions): Promise<Buffer> {
  const { handle, stat } = await openRegular(file, options.followLinks ?? false)
  try {
    if (options.expectedBytes !== undefined && stat.size !== options.expectedBytes) {
      throw new UnsafeFileError(file, `holds ${stat.size} bytes, not the ${options.expectedBytes} recorded for it`, 'size-differs')
    }
    if (stat.size > options.maxBytes) throw new UnsafeFileError(file, `too large (${stat.size} bytes; at most ${options.maxBytes} are read)`, 'too-large')
    const buffer = Buffer.alloc(stat.size)
    let offset = 0
    while (offset < stat.size) {
      const { bytesRead } = await handle.read(buffer, offset, stat.size - offset, offset)
      if (bytesRead === 0) break // shortened while we read: what arrived is all there is
      offset += bytesRead
    }
    return offset === stat.size ? buffer : buffer.subarray(0, offset)
  } finally {
    await handle.close()
  }
}

/** `work`, or a rejection when it takes longer than `ms` or `signal` aborts (the work itself runs on, unobserved). */
export function withTimeout<T>(work: Promise<T>, ms: number, signal: AbortSignal | undefined, timedOut: () => Error): Promise<T> {
  if (signal?.aborted) {
    work.catch(() => {})
    return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('Stopped'))
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal!.reason instanceof Error ? signal!.reason : new Error('Stopped'))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      reject(timedOut())
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        reject(error as Error)
      }
    )
  })
}
