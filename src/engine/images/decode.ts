// Turns any image file we accept into RGB bytes at the size a model wants, the way Keras'
// load_img(target_size=…) does: the whole picture squeezed to the target, no crop. sharp
// (libvips) decodes by content, not by name, applies EXIF orientation, reads the first frame of
// an animation, and shrinks large JPEGs while decoding them, so a 15-megapixel photo never
// exists at full size in memory.
import path from 'node:path'
import sharp from 'sharp'
import { readRegularFile, UnsafeFileError } from '../util/safe-read'
import { MAX_IMAGE_FILE_BYTES, SNIFF_BYTES, sniffImage } from './sniff'

// libvips' operation cache would keep decoded pixels of recent images alive; we never ask for
// the same image twice in a row, so it only costs memory.
sharp.cache(false)

/** Beyond this many pixels a file is refused before decoding (about 16000 x 16000). */
export const MAX_INPUT_PIXELS = 256_000_000

export interface RgbImage {
  /** Height x width x 3, row-major, 0..255. */
  data: Uint8Array
  width: number
  height: number
}

export class ImageDecodeError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string
  ) {
    super(`${file}: ${reason}`)
    this.name = 'ImageDecodeError'
  }
}

const UNSUPPORTED = 'not an image format that can be decoded'
const TRUNCATED = 'file is truncated (incomplete image data)'

/** Maps libvips' wording to a sentence for someone who has never heard of libvips. */
function plainReason(message: string): string {
  if (/pixel limit/i.test(message)) {
    return `image too large to decode (more than ${MAX_INPUT_PIXELS / 1e6} megapixels)`
  }
  if (/premature end|truncated|unexpected end/i.test(message)) return TRUNCATED
  if (/corrupt header/i.test(message)) return 'the image header is damaged'
  if (/unsupported image format/i.test(message)) return UNSUPPORTED
  if (/ENOENT|no such file|is missing/i.test(message)) return 'file not found (was it moved or deleted?)'
  if (/EACCES|permission/i.test(message)) return 'permission denied reading the file'
  return `cannot decode image: ${message.replace(/^Input (file|buffer) /, '').trim()}`
}

/** A file on disk, or bytes that arrived with a name (a photo dropped on the window). */
export type ImageSource = string | { name: string; bytes: Uint8Array }

export const sourceName = (source: ImageSource): string => (typeof source === 'string' ? source : source.name)

/**
 * Decodes an image to RGB at `size` x `size` (or its own size when `size` is null).
 * Alpha is dropped as Keras/PIL's convert('RGB') drops it; grey becomes three equal channels.
 */
export async function decodeImage(source: ImageSource, size: number | null): Promise<RgbImage> {
  const name = typeof source === 'string' ? path.resolve(source) : source.name
  // The file is read here, not by the decoder: only a regular file is opened (a FIFO in place of
  // a photo would block libvips' thread for good), within a size limit and a time limit.
  const bytes = typeof source === 'string' ? await readImageFile(name) : source.bytes
  try {
    let pipeline = sharp(bytes, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS, pages: 1 }).rotate().removeAlpha().toColourspace('srgb')
    if (size !== null) pipeline = pipeline.resize(size, size, { fit: 'fill' })
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true })
    if (info.channels !== 3) throw new Error(`decoder produced ${info.channels} channels instead of 3`)
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }
  } catch (error) {
    const reason = plainReason((error as Error).message)
    if (reason === UNSUPPORTED) throw new ImageDecodeError(name, explainUnsupported(name, bytes))
    // With several decodes in flight libvips sometimes loses its message ("Unknown error"): look
    // at the bytes ourselves before giving the user nothing to act on.
    if (/unknown error|^cannot decode image: *$/i.test(reason) && isTruncated(bytes)) {
      throw new ImageDecodeError(name, TRUNCATED)
    }
    throw new ImageDecodeError(name, reason)
  }
}

async function readImageFile(file: string): Promise<Uint8Array> {
  try {
    return await readRegularFile(file, { maxBytes: MAX_IMAGE_FILE_BYTES, followLinks: true })
  } catch (error) {
    if (error instanceof UnsafeFileError) throw new ImageDecodeError(file, error.reason)
    throw new ImageDecodeError(file, plainReason((error as Error).message))
  }
}

/** A JPEG must end with its EOI marker, a PNG with its IEND chunk. */
function isTruncated(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false
  const tail = Buffer.from(bytes.subarray(Math.max(0, bytes.length - 16)))
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return tail.lastIndexOf(Buffer.from([0xff, 0xd9])) < 0
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return tail.indexOf('IEND') < 0
  return false
}

/** When the decoder gives up on a format, say what the file actually is (a Git LFS pointer, …). */
function explainUnsupported(name: string, bytes: Uint8Array): string {
  const sniffed = sniffImage(name, bytes.subarray(0, SNIFF_BYTES), bytes.length)
  return sniffed.kind === 'skip' ? sniffed.reason : UNSUPPORTED
}

/** Resizes raw RGB pixels (CIFAR records arrive this way) with the same kernel as files. */
export async function resizeRgb(image: RgbImage, size: number): Promise<RgbImage> {
  if (image.width === size && image.height === size) return image
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(size, size, { fit: 'fill' })
    .raw()
    .toBuffer()
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: size, height: size }
}
