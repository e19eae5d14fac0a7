// Reads named entries of a ZIP archive held in memory: enough for Keras 3's `.keras` files
// (config.json, metadata.json, model.weights.h5; stored or deflated, no ZIP64, no encryption).
import zlib from 'node:zlib'

const END_OF_DIRECTORY = 0x06054b50
const DIRECTORY_ENTRY = 0x02014b50
const LOCAL_HEADER = 0x04034b50

export class ZipFormatError extends Error {
  override name = 'ModelFileError'
}

/** Every entry of `zip` by name, decompressed. `source` names the archive in errors. */
export function readZipEntries(zip: Buffer, source: string, options: { maxTotalBytes?: number } = {}): Map<string, Buffer> {
  const fail = (reason: string): never => {
    throw new ZipFormatError(`${source}: not a readable ZIP archive (${reason})`)
  }
  // The end record sits in the last 22 bytes plus a comment of up to 65,535.
  let end = -1
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === END_OF_DIRECTORY) {
      end = i
      break
    }
  }
  if (end < 0) fail('no end-of-directory record')
  const count = zip.readUInt16LE(end + 10)
  let at = zip.readUInt32LE(end + 16)
  if (at === 0xffffffff || count === 0xffff) fail('ZIP64 archives are not supported')
  const entries = new Map<string, Buffer>()
  let total = 0
  for (let n = 0; n < count; n++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== DIRECTORY_ENTRY) fail(`directory entry ${n} is damaged`)
    const flags = zip.readUInt16LE(at + 8)
    const method = zip.readUInt16LE(at + 10)
    const compressedSize = zip.readUInt32LE(at + 20)
    const size = zip.readUInt32LE(at + 24)
    const nameLength = zip.readUInt16LE(at + 28)
    const extraLength = zip.readUInt16LE(at + 30)
    const commentLength = zip.readUInt16LE(at + 32)
    const local = zip.readUInt32LE(at + 42)
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8')
    at += 46 + nameLength + extraLength + commentLength
    if (flags & 1) fail(`${name} is encrypted`)
    // An archive that would unpack to more than its reader allows is refused before inflating it.
    total += size
    if (options.maxTotalBytes !== undefined && total > options.maxTotalBytes) fail(`it unpacks to more than ${options.maxTotalBytes} bytes`)
    if (local + 30 > zip.length || zip.readUInt32LE(local) !== LOCAL_HEADER) fail(`the local header of ${name} is damaged`)
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28)
    const data = zip.subarray(start, start + compressedSize)
    if (data.length !== compressedSize) fail(`${name} is truncated`)
    let contents: Buffer
    if (method === 0) contents = data
    else if (method === 8) contents = inflateAtMost(data, size, () => fail(`${name} inflates to more than the ${size} bytes its directory says`))
    else return fail(`${name} uses compression method ${method}`)
    if (contents.length !== size) fail(`${name} has ${contents.length} bytes, its directory says ${size}`)
    entries.set(name, contents)
  }
  return entries
}

/** Inflates no further than `size` bytes (a small entry that inflates to gigabytes stops there). */
function inflateAtMost(data: Buffer, size: number, tooLarge: () => never): Buffer {
  try {
    return zlib.inflateRawSync(data, { maxOutputLength: Math.max(1, size) })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge()
    throw error
  }
}
