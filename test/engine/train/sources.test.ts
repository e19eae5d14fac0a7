import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend'
import { loadDataset } from '../../../src/engine/datasets/scan'
import { Augmentation, type PreprocessMode } from '../../../src/shared/protocol'
import { preprocessPixels } from '../../../src/engine/inference/preprocess'
import { streamingSource } from '../../../src/engine/train/sources'
import { seededRandom } from '../../../src/engine/util/random'
import { DATA, linkTree, tempDir } from '../../helpers'

beforeAll(initBackend)

const weather = path.join(DATA, 'mini', 'weather', 'train')

/** Four real photos and one broken file, as links in a folder of their own that the test may change. */
async function smallSet() {
  const photos = fs.readdirSync(path.join(weather, 'cloudy')).slice(0, 4)
  // The first 2 KiB of a real photo: a JPEG header that passes the scan, then nothing to decode.
  const cut = path.join(tempDir(), 'cut.jpg')
  fs.writeFileSync(cut, fs.readFileSync(path.join(weather, 'rain', fs.readdirSync(path.join(weather, 'rain'))[0])).subarray(0, 2048))
  const root = linkTree({
    ...Object.fromEntries(photos.map((f) => [`cloudy/${f}`, path.join(weather, 'cloudy', f)])),
    'rain/cut.jpg': cut
  })
  const { train, val } = await loadDataset(root, { valSplit: 0.5 })
  return { root, items: [...train, ...val] }
}

function source(
  items: Awaited<ReturnType<typeof smallSet>>['items'],
  pixelCacheBytes: number,
  broken: string[],
  { preprocess = 'tf', augment = null, random = Math.random }: { preprocess?: PreprocessMode; augment?: Augmentation | null; random?: () => number } = {}
) {
  return streamingSource(items, {
    runner: null,
    featureShape: [],
    size: 32,
    preprocess,
    augment,
    random,
    onBroken: (file) => broken.push(file),
    pixelCacheBytes
  })
}

describe('streaming source', () => {
  it('keeps decoded images for later epochs: the second epoch reads no file', async () => {
    const { root, items } = await smallSet()
    const all = items.map((_, i) => i)
    const broken: string[] = []
    const cached = source(items, 1 << 20, broken)
    const first = await cached.batch(all, false)
    expect(first.labels.length).toBe(4)
    expect(broken).toHaveLength(1)
    // Every file gone: a cached epoch still has all four images, the same numbers, and no new report.
    fs.rmSync(root, { recursive: true })
    const second = await cached.batch(all, false)
    expect(second.files).toEqual(first.files)
    expect(Array.from(second.x.dataSync())).toEqual(Array.from(first.x.dataSync()))
    expect(broken).toHaveLength(1)
    tf.dispose([first.x, second.x])
  })

  it('writes batches into buffers used again only once tfjs has let go of them (cpu backend: tensors share them)', async () => {
    const { items } = await smallSet()
    const all = items.map((_, i) => i)
    const previous = tf.getBackend()
    await tf.setBackend('cpu')
    try {
      const cached = source(items, 1 << 20, [])
      const first = await cached.batch(all, false)
      const second = await cached.batch(all, false)
      const values = Array.from(second.x.dataSync())
      // The first batch's buffer, released, takes the third: the second, still held, keeps its numbers.
      tf.dispose(first.x)
      const third = await cached.batch([...all].reverse(), false)
      expect(third.files).toEqual([...second.files].reverse())
      expect(Array.from(third.x.dataSync())).not.toEqual(values)
      expect(Array.from(second.x.dataSync())).toEqual(values)
      tf.dispose([second.x, third.x])
    } finally {
      await tf.setBackend(previous)
    }
  })

  it('decodes again beyond its budget, and with no budget', async () => {
    const { root, items } = await smallSet()
    const all = items.map((_, i) => i)
    const broken: string[] = []
    // Room for one 32x32 image: the other three are read again next time.
    const small = source(items, 32 * 32 * 3, broken)
    tf.dispose((await small.batch(all, false)).x)
    fs.rmSync(root, { recursive: true })
    const again = await small.batch(all, false)
    expect(again.labels.length).toBe(1)
    expect(broken.length).toBe(4)
    tf.dispose(again.x)
  })

  it('asked for pixels, gives the augmented RGB values that preprocessing would have turned into its batch', async () => {
    // A native step with nothing frozen preprocesses in its graph (TrainingStep.takesPixels).
    const { items } = await smallSet()
    const all = items.map((_, i) => i)
    const augment = Augmentation.parse({ flipHorizontal: true, rotate: 20, zoom: 0.2, brightness: 0.2 })
    for (const preprocess of ['caffe', 'torch'] as const) {
      // The same seed on both sides: the same draws of the augmentation.
      const pixels = await source(items, 1 << 20, [], { preprocess, augment, random: seededRandom(7) }).batch(all, true, true)
      const values = await source(items, 1 << 20, [], { preprocess, augment, random: seededRandom(7) }).batch(all, true)
      const rgb = pixels.x.dataSync() as Float32Array
      expect(Math.max(...rgb)).toBeGreaterThan(1)
      expect(Array.from(preprocessPixels(rgb, preprocess))).toEqual(Array.from(values.x.dataSync()))
      tf.dispose([pixels.x, values.x])
    }
  })
})
