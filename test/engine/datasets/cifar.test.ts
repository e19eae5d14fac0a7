import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CIFAR_RECORD_BYTES, planesToRgb, readCifarFile, readCifarFolder } from '../../../src/engine/datasets/cifar'
import type { SkippedFile } from '../../../src/shared/protocol'
import { DATA, ODD, tempDir } from '../../helpers'

const CIFAR = path.join(DATA, 'cifar10-bin-subset')

describe('CIFAR-10 binary reader on ../shared/data/cifar10-bin-subset', () => {
  it('reads 1017 records from each file and the class names from batches.meta.txt', async () => {
    const folder = await readCifarFolder(CIFAR, fs.readdirSync(CIFAR))
    expect(folder.classes).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'])
    expect(folder.trainFiles).toEqual(['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'])
    expect(folder.train).toHaveLength(5 * 1017)
    expect(folder.test).toHaveLength(1017)
    expect(folder.skipped).toEqual([])
  })

  it('puts the R, G and B planes in the right place: the first test image is the well-known cat', async () => {
    const records = await readCifarFile(path.join(CIFAR, 'test_batch.bin'), 10, [])
    // The first four test images of CIFAR-10 are a cat, two ships and an airplane.
    expect(records.slice(0, 4).map((r) => r.label)).toEqual([3, 8, 8, 0])
    const ref = records[0].ref
    if (ref.kind !== 'cifar') throw new Error('expected a CIFAR record')
    const rgb = planesToRgb(ref.planes)
    // Top-left pixels of that cat (orange background): (158,112,49), then (159,111,47).
    expect(Array.from(rgb.subarray(0, 6))).toEqual([158, 112, 49, 159, 111, 47])
    // Pixel (row 1, col 0) is 32 pixels on: R from plane 0, G from plane 1, B from plane 2.
    expect(Array.from(rgb.subarray(32 * 3, 32 * 3 + 3))).toEqual([ref.planes[32], ref.planes[1024 + 32], ref.planes[2048 + 32]])
  })

  it('holds the same pixels as the official Python version of the batch', async () => {
    // The odd-files copy of the Python pickle is truncated, but its first records are intact:
    // the pickled array stores each image as the same 3072 channel-major bytes.
    const pickle = fs.readFileSync(path.join(ODD, 'cifar10_test_batch_python_truncated_3MiB'))
    const records = await readCifarFile(path.join(CIFAR, 'test_batch.bin'), 10, [])
    const first = records[0].ref
    const second = records[1].ref
    if (first.kind !== 'cifar' || second.kind !== 'cifar') throw new Error('expected CIFAR records')
    const at = pickle.indexOf(Buffer.from(first.planes))
    expect(at).toBeGreaterThan(0)
    expect(pickle.subarray(at + 3072, at + 6144).equals(Buffer.from(second.planes))).toBe(true)
  })

  it('reads any number of records and reports a truncated tail', async () => {
    const dir = tempDir()
    const whole = fs.readFileSync(path.join(CIFAR, 'data_batch_1.bin'))
    const file = path.join(dir, 'data_batch_1.bin')
    fs.writeFileSync(file, whole.subarray(0, 3 * CIFAR_RECORD_BYTES + 100))
    const skipped: SkippedFile[] = []
    const records = await readCifarFile(file, 10, skipped)
    expect(records).toHaveLength(3)
    expect(skipped).toEqual([
      { file: `${file}#3`, reason: 'file is truncated: its last 100 bytes are not a whole 3073-byte record, so that record is ignored' }
    ])
  })
})
