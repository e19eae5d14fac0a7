// writeParts: a model's weights and a run's state go to disk as lists of arrays, not one copy.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { writeFileAtomic, writeParts } from '../../src/engine/util/atomic'
import { tempDir } from '../helpers'

/** More parts than one writev call takes on Linux (IOV_MAX 1024), of uneven sizes, some empty. */
function manyParts(): Uint8Array[] {
  return Array.from({ length: 2500 }, (_, i) => Uint8Array.from({ length: (i * 37) % 301 }, (_, j) => (i * 7 + j) % 256))
}

describe('writeParts', () => {
  it('writes the parts one after another, every byte in order', async () => {
    const parts = manyParts()
    const file = path.join(tempDir(), 'parts.bin')
    await writeParts(file, parts)
    expect(fs.readFileSync(file).equals(Buffer.concat(parts))).toBe(true)
  })

  it('writes views of a larger buffer as the views, and replaces what the file held', async () => {
    const buffer = Uint8Array.from({ length: 1000 }, (_, i) => i % 251)
    const parts = [buffer.subarray(900), buffer.subarray(10, 20), buffer.subarray(0, 0), buffer.subarray(500, 700)]
    const file = path.join(tempDir(), 'views.bin')
    fs.writeFileSync(file, Buffer.alloc(5000, 1))
    await writeParts(file, parts)
    expect(fs.readFileSync(file).equals(Buffer.concat(parts))).toBe(true)
  })

  it('writeFileAtomic takes parts too', async () => {
    const parts = manyParts()
    const file = path.join(tempDir(), 'atomic.bin')
    await writeFileAtomic(file, parts)
    expect(fs.readFileSync(file).equals(Buffer.concat(parts))).toBe(true)
    expect(fs.readdirSync(path.dirname(file))).toEqual(['atomic.bin'])
  })
})
