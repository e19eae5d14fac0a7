// Decides from a file's first bytes whether it is an image we can decode, so a scan can sort
// 50,000 files without decoding any of them. The reasons are written for the person who owns
// the folder: they say what the file is and what to do about it.
import path from 'node:path'

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif' | 'heif'

/** Bytes a scan reads from the start of each file; enough for every signature below. */
export const SNIFF_BYTES = 64
/** Beyond this many bytes a file is refused before reading (no photo comes near it). */
export const MAX_IMAGE_FILE_BYTES = 512 * 1024 * 1024

export type Sniffed = { kind: 'image'; format: ImageFormat; note?: string } | { kind: 'skip'; reason: string }

const EXTENSION_FORMATS: Record<string, ImageFormat> = {
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.jpe': 'jpeg',
  '.jfif': 'jpeg',
  '.png': 'png',
  '.gif': 'gif',
  '.webp': 'webp',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.avif': 'avif',
  '.heic': 'heif',
  '.heif': 'heif'
}

const SYSTEM_FILES: Record<string, string> = {
  '.ds_store': 'macOS Finder metadata (.DS_Store), not an image',
  'thumbs.db': 'Windows thumbnail cache (Thumbs.db), not an image',
  'desktop.ini': 'Windows folder settings (desktop.ini), not an image'
}

const ascii = (head: Uint8Array, from: number, to: number): string => String.fromCharCode(...head.subarray(from, to))

function formatOf(head: Uint8Array): ImageFormat | null {
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg'
  if (ascii(head, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png'
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') return 'gif'
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp'
  if (ascii(head, 0, 4) === 'II*\0' || ascii(head, 0, 4) === 'MM\0*') return 'tiff'
  if (ascii(head, 4, 8) === 'ftyp') {
    const brand = ascii(head, 8, 12)
    if (brand === 'avif' || brand === 'avis') return 'avif'
    if (['heic', 'heix', 'mif1', 'msf1', 'hevc'].includes(brand)) return 'heif'
  }
  return null
}

/** Recognisable non-images, named so the user knows what they are looking at. */
function describeNonImage(head: Uint8Array): string | null {
  const text = ascii(head, 0, head.length)
  if (text.startsWith('version https://git-lfs.github.com/spec/')) {
    return 'Git LFS pointer, not the image itself: run `git lfs pull` in the repository it came from'
  }
  if (ascii(head, 0, 2) === 'BM') return 'BMP image: this format is not supported, convert it to PNG or JPEG'
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) {
    return 'Python pickle data (for example a CIFAR-10 "python version" batch), not an image'
  }
  if (ascii(head, 0, 8) === '\0\0\0\x01Bud1') return 'macOS Finder metadata (.DS_Store), not an image'
  if (ascii(head, 0, 4) === '%PDF') return 'PDF document, not an image'
  if (ascii(head, 0, 4) === 'PK\x03\x04') return 'ZIP archive, not an image: extract it first'
  if (/^\s*<(\?xml|svg)/i.test(text)) return 'SVG or XML file: vector images are not supported'
  if (head.length > 0 && head.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f))) {
    return 'text file, not an image'
  }
  return null
}

export function sniffImage(file: string, head: Uint8Array, size: number): Sniffed {
  const base = path.basename(file)
  const system = SYSTEM_FILES[base.toLowerCase()]
  if (system) return { kind: 'skip', reason: system }
  if (size === 0) return { kind: 'skip', reason: 'empty file (0 bytes)' }

  const format = formatOf(head)
  if (format === null) {
    const hex = Array.from(head.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
    return { kind: 'skip', reason: describeNonImage(head) ?? `not a recognised image format (starts with bytes ${hex})` }
  }
  const ext = path.extname(base).toLowerCase()
  const claimed = EXTENSION_FORMATS[ext]
  if (claimed !== undefined && claimed !== format) {
    return { kind: 'image', format, note: `${format.toUpperCase()} data in a ${ext} file: decoded as ${format.toUpperCase()}` }
  }
  return { kind: 'image', format }
}
