import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadDataset } from '../../../src/engine/datasets/scan'
import { DATA, ODD, linkTree, tempDir } from '../../helpers'

const mini = (rel: string) => path.join(DATA, 'mini', rel)
const aJpeg = path.join(DATA, 'mini', 'weather', 'train', 'cloudy', fs.readdirSync(mini('weather/train/cloudy'))[0])

describe('loadDataset', () => {
  it('reads one folder per class, classes sorted, and holds out a stratified validation set', async () => {
    const { report, train, val } = await loadDataset(mini('weather/train'))
    expect(report.layout).toBe('classes')
    expect(report.classes).toEqual(['cloudy', 'rain', 'shine', 'sunrise'])
    expect(report.validation).toEqual({ kind: 'split', fraction: 0.2, seed: 42 })
    expect(report.splits.map((s) => [s.name, s.total])).toEqual([
      ['train', 48],
      ['val', 12]
    ])
    expect(report.splits[1].counts).toEqual({ cloudy: 3, rain: 3, shine: 3, sunrise: 3 })
    expect(train.length + val.length).toBe(60)
  })

  it('gives the same held-out set for the same seed and another for another seed', async () => {
    const names = async (seed: number) => (await loadDataset(mini('weather/train'), { seed })).val.map((x) => x.ref.kind === 'file' && x.ref.path)
    expect(await names(5)).toEqual(await names(5))
    expect(await names(5)).not.toEqual(await names(6))
    const bigger = await loadDataset(mini('weather/train'), { valSplit: 0.4 })
    expect(bigger.val).toHaveLength(24)
  })

  it('reads train/val splits with their exact counts (hymenoptera)', async () => {
    const { report, train, val, test } = await loadDataset(path.join(DATA, 'hymenoptera'))
    expect(report.layout).toBe('splits')
    expect(report.classes).toEqual(['ants', 'bees'])
    expect(report.splits).toEqual([
      { name: 'train', source: path.join(DATA, 'hymenoptera', 'train'), counts: { ants: 124, bees: 121 }, total: 245 },
      { name: 'val', source: path.join(DATA, 'hymenoptera', 'val'), counts: { ants: 70, bees: 83 }, total: 153 }
    ])
    expect(report.validation).toEqual({ kind: 'folder' })
    expect([train.length, val.length, test.length]).toEqual([245, 153, 0])
    expect(report.skipped).toEqual([])
    expect(report.notes).toEqual([
      {
        file: path.join(DATA, 'hymenoptera', 'train', 'ants', 'imageNotFound.gif'),
        note: 'the name suggests a web placeholder picture, not a photo of ants: check that it belongs there'
      }
    ])
  })

  it('understands "validation" and notes the PNGs named .jpg (alien-vs-predator)', async () => {
    const { report } = await loadDataset(path.join(DATA, 'alien-vs-predator'))
    expect(report.splits.map((s) => [s.name, s.total])).toEqual([
      ['train', 694],
      ['val', 200]
    ])
    expect(report.notes).toHaveLength(5)
    expect(report.notes.every((n) => n.note === 'PNG data in a .jpg file: decoded as PNG')).toBe(true)
  })

  it('accepts split names in any letter case and reports a class missing from a split', async () => {
    const root = linkTree({
      'TRAIN/cats/1.jpg': aJpeg,
      'TRAIN/dogs/1.jpg': aJpeg,
      'Valid/cats/2.jpg': aJpeg,
      'Testing/cats/3.jpg': aJpeg,
      'Testing/dogs/3.jpg': aJpeg
    })
    const { report, test } = await loadDataset(root)
    expect(report.layout).toBe('splits')
    expect(report.splits.map((s) => [s.name, s.counts])).toEqual([
      ['train', { cats: 1, dogs: 1 }],
      ['val', { cats: 1, dogs: 0 }],
      ['test', { cats: 1, dogs: 1 }]
    ])
    expect(report.missing).toEqual([{ split: 'val', class: 'dogs' }])
    expect(test).toHaveLength(2)
  })

  it('reads CIFAR-10 binary folders', async () => {
    const { report, classes, train, val, test } = await loadDataset(path.join(DATA, 'cifar10-bin-subset'))
    expect(report.layout).toBe('cifar10-binary')
    expect(classes).toHaveLength(10)
    expect([train.length, val.length, test.length]).toEqual([4068, 1017, 1017])
    expect(report.splits.map((s) => s.name)).toEqual(['train', 'val', 'test'])
  })

  it('gives every odd file a specific outcome: decoded, or skipped with its reason', async () => {
    const files = Object.fromEntries(fs.readdirSync(ODD).map((name) => [`train/odd/${name}`, path.join(ODD, name)]))
    const root = linkTree({ ...files, 'train/plain/a.jpg': aJpeg })
    const { report, train, val } = await loadDataset(root)
    const skipped = Object.fromEntries(report.skipped.map((s) => [path.basename(s.file), s.reason]))
    expect(skipped).toEqual({
      'git-lfs-pointer-named-jpg.jpg': 'Git LFS pointer, not the image itself: run `git lfs pull` in the repository it came from',
      'macos.DS_Store': 'macOS Finder metadata (.DS_Store), not an image',
      cifar10_test_batch_python_truncated_3MiB: 'Python pickle data (for example a CIFAR-10 "python version" batch), not an image'
    })
    const used = [...train, ...val].map((x) => (x.ref.kind === 'file' ? path.basename(x.ref.path) : '')).sort()
    expect(used).toEqual([
      'a.jpg',
      'avp_alien18_palette-png-named-jpg.jpg',
      'hymenoptera_ant photos.jpg',
      'hymenoptera_formica.jpeg',
      'hymenoptera_imageNotFound.gif',
      'weather_cloudy125_exif-orientation-8.jpg',
      'weather_cloudy131_png-named-jpg.jpg',
      'weather_cloudy66_grayscale.jpg',
      'weather_rain141_animated-gif-named-jpg.jpg',
      'weather_shine127_rgba-png-named-jpg.jpg',
      'weather_sunrise29_15MP.jpg'
    ])
    expect(report.notes.map((n) => path.basename(n.file)).sort()).toEqual([
      'avp_alien18_palette-png-named-jpg.jpg',
      'hymenoptera_imageNotFound.gif',
      'weather_cloudy131_png-named-jpg.jpg',
      'weather_rain141_animated-gif-named-jpg.jpg',
      'weather_shine127_rgba-png-named-jpg.jpg'
    ])
  })

  it('walks nested folders, skips hidden folders, loose files and linked folders, saying why', async () => {
    const root = linkTree({
      'cats/2019/summer/a.jpg': aJpeg,
      'cats/b.jpg': aJpeg,
      'dogs/c.jpg': aJpeg,
      'dogs/.thumbnails/d.jpg': aJpeg,
      'loose.jpg': aJpeg
    })
    fs.symlinkSync(path.join(root, 'cats'), path.join(root, 'dogs', 'linked'))
    const { report } = await loadDataset(root, { valSplit: 0.5 })
    expect(report.classes).toEqual(['cats', 'dogs'])
    expect(report.total).toBe(3)
    expect(Object.fromEntries(report.skipped.map((s) => [path.relative(root, s.file), s.reason]))).toEqual({
      'dogs/.thumbnails': 'hidden folder, not scanned',
      'dogs/linked': 'symbolic link to a folder: not followed',
      'loose.jpg': 'not inside a class folder, so it has no label'
    })
  })

  it('explains what is wrong with folders it cannot use', async () => {
    await expect(loadDataset(path.join(DATA, 'no-such-dataset'))).rejects.toThrow(`Dataset folder not found: ${path.join(DATA, 'no-such-dataset')}`)
    await expect(loadDataset(aJpeg)).rejects.toThrow('is a file: choose the folder that holds the class folders')
    await expect(loadDataset(ODD)).rejects.toThrow(`No class folders in ${ODD}`)
    const empty = linkTree({ 'cats/.DS_Store': path.join(ODD, 'macos.DS_Store') })
    fs.mkdirSync(path.join(empty, 'dogs'))
    await expect(loadDataset(empty)).rejects.toThrow(`No usable images in ${empty} (1 files skipped: macOS Finder metadata (.DS_Store), not an image)`)
  })

  it('reports progress while scanning', async () => {
    const seen: number[] = []
    await loadDataset(path.join(DATA, 'alien-vs-predator'), { onProgress: (p) => seen.push(p.filesSeen) })
    expect(seen.length).toBeGreaterThan(2)
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
    expect(seen.at(-1)).toBe(894)
  })

  it('scans a folder of 50,000 images without decoding them', { timeout: 300_000 }, async () => {
    const root = tempDir('ts-50k-')
    try {
      for (const cls of ['a', 'b']) {
        fs.mkdirSync(path.join(root, cls))
        // Links to a copy of our own, one per class: the shared file's link count (65,000 at most on
        // ext4) is not ours to use up, and a run killed before cleaning up must not starve the next.
        const source = path.join(root, `${cls}.source`)
        fs.copyFileSync(aJpeg, source)
        for (let i = 0; i < 25_000; i++) fs.linkSync(source, path.join(root, cls, `${i}.jpg`))
        fs.rmSync(source)
      }
      const seen: number[] = []
      const { report } = await loadDataset(root, { onProgress: (p) => seen.push(p.imagesFound) })
      expect(report.total).toBe(50_000)
      expect(seen.length).toBeGreaterThan(100)
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })
})
