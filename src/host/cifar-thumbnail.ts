// One CIFAR-10 image out of a binary batch file, for a preview: the scan names record N of
// `data_batch_1.bin` as `data_batch_1.bin#N` (src/engine/datasets/cifar.ts), and a preview reads
// only that record's 3,073 bytes, not the 30 MB file.
import type fs from 'node:fs/promises'
import { CIFAR_RECORD_BYTES, CIFAR_SIDE } from '../engine/datasets/cifar'
import { ThumbnailRefused } from './thumbnail-refused'

const RECORD_PATH = /^(.+\.bin)#(\d{1,9})$/i

/** The batch file and record index a path names, or null for an ordinary file path. */
export function parseCifarRecordPath(requested: string): { file: string; index: number } | null {
  const match = RECORD_PATH.exec(requested)
  return match ? { file: match[1], index: Number(match[2]) } : null
}

/** The record's pixels, interleaved RGB (the file holds the red, green and blue planes in turn). */
export async function cifarRecordThumbnailSource(
  handle: fs.FileHandle,
  fileSize: number,
  index: number,
  file: string
): Promise<{ pixels: Buffer; side: number }> {
  const records = Math.floor(fileSize / CIFAR_RECORD_BYTES)
  if (index >= records) throw new ThumbnailRefused(`Refused ${file}#${index}: the file holds ${records} whole CIFAR-10 records`)
  const record = Buffer.alloc(CIFAR_RECORD_BYTES)
  const { bytesRead } = await handle.read(record, 0, CIFAR_RECORD_BYTES, index * CIFAR_RECORD_BYTES)
  if (bytesRead !== CIFAR_RECORD_BYTES) throw new ThumbnailRefused(`Refused ${file}#${index}: the record was cut short while reading`)
  const plane = CIFAR_SIDE * CIFAR_SIDE
  const pixels = Buffer.alloc(plane * 3)
  for (let i = 0; i < plane; i++) {
    pixels[i * 3] = record[1 + i]
    pixels[i * 3 + 1] = record[1 + plane + i]
    pixels[i * 3 + 2] = record[1 + 2 * plane + i]
  }
  return { pixels, side: CIFAR_SIDE }
}
