// Files and classes the user excluded in the dataset view are never trained on, validated on or
// offered as answers; the scan's warnings reach the run as notices.
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { TrainConfigInput, TrainEvent } from '../../../src/shared/protocol'
import { initBackend } from '../../../src/engine/backend'
import { describeRef } from '../../../src/engine/datasets/types'
import { readMetadata } from '../../../src/engine/model/store'
import { prepareTrainingData } from '../../../src/engine/train/data'
import { train } from '../../../src/engine/train/trainer'
import { DATA, linkTree, tempDir, trainConfig, weightsMirror } from '../../helpers'

const weather = path.join(DATA, 'mini', 'weather')
let home: string
let mirror: string

beforeAll(async () => {
  await initBackend()
  home = tempDir()
  mirror = weightsMirror()
})

/**
 * Four real photos of each of three weather classes in train, two in val, plus a file in
 * train/cloudy that passes the scan but cannot be decoded: if training ever reads it, a
 * `skipped` event says so.
 */
function smallSet() {
  const files: Record<string, string> = {}
  for (const split of ['train', 'val'] as const) {
    for (const label of ['cloudy', 'rain', 'shine']) {
      const dir = path.join(weather, split, label)
      for (const name of fs
        .readdirSync(dir)
        .sort()
        .slice(0, split === 'train' ? 4 : 2))
        files[`${split}/${label}/${name}`] = path.join(dir, name)
    }
  }
  const cut = path.join(tempDir(), 'cut.jpg')
  const rain = path.join(weather, 'train', 'rain')
  fs.writeFileSync(cut, fs.readFileSync(path.join(rain, fs.readdirSync(rain).sort()[0])).subarray(0, 2048))
  files['train/cloudy/zz-cut.jpg'] = cut
  const root = linkTree(files)
  return { root, cut: path.join(root, 'train', 'cloudy', 'zz-cut.jpg') }
}

async function run(config: TrainConfigInput) {
  const events: TrainEvent[] = []
  const result = await train(trainConfig(config), { home, mirror, onEvent: (event) => events.push(event) })
  return { result, events }
}

const extracted = (events: TrainEvent[], split: string) =>
  events.filter((e): e is Extract<TrainEvent, { event: 'status' }> => e.event === 'status' && e.message === `Computing ${split} features`).at(-1)?.total

describe('excluded files and classes', () => {
  it('leave the training data: the class is gone from the labels, the file from every split', async () => {
    const { root, cut } = smallSet()
    const all = await prepareTrainingData({ data: root, valSplit: 0.2, seed: 1 })
    expect(all.classes).toEqual(['cloudy', 'rain', 'shine'])
    expect(all.train.map((i) => describeRef(i.ref))).toContain(cut)

    const data = await prepareTrainingData({ data: root, valSplit: 0.2, seed: 1, exclude: { files: [cut], classes: ['rain'] } })
    expect(data.classes).toEqual(['cloudy', 'shine'])
    const named = [...data.train, ...data.val].map((i) => describeRef(i.ref))
    expect(named).not.toContain(cut)
    expect(named.some((f) => f.includes(`${path.sep}rain${path.sep}`))).toBe(false)
    expect(data.train).toHaveLength(8)
    expect(data.val).toHaveLength(4)
    // Labels index the remaining classes: shine was 2 and is now 1.
    const shine = data.train.filter((i) => describeRef(i.ref).includes(`${path.sep}shine${path.sep}`))
    expect(new Set(shine.map((i) => i.label))).toEqual(new Set([1]))
  })

  it('are refused when they name a class the data does not have, or leave fewer than two', async () => {
    const { root } = smallSet()
    await expect(prepareTrainingData({ data: root, valSplit: 0.2, seed: 1, exclude: { files: [], classes: ['snow'] } })).rejects.toThrow(
      /has no class "snow" to exclude \(its classes: cloudy, rain, shine\)/
    )
    await expect(prepareTrainingData({ data: root, valSplit: 0.2, seed: 1, exclude: { files: [], classes: ['rain', 'shine'] } })).rejects.toThrow(
      /leaves one class; a classifier needs at least two/
    )
  })

  it('are not trained on: a real run never reads the excluded file and its model has no excluded class', async () => {
    const { root, cut } = smallSet()
    const base = { data: root, backbone: 'mobilenet_v1_0.25_224', epochs: 1, batchSize: 4 }

    // Without the exclusion the broken file is read (and reported), and every class is trained.
    const plain = await run(base)
    expect(plain.events).toContainEqual(expect.objectContaining({ event: 'skipped', file: cut }))
    expect(extracted(plain.events, 'train')).toBe(13)
    expect((await readMetadata(plain.result.modelDir)).labels).toEqual(['cloudy', 'rain', 'shine'])

    const left = await run({ ...base, exclude: { files: [cut], classes: ['rain'] } })
    expect(left.events.some((e) => e.event === 'skipped')).toBe(false)
    // Four cloudy and four shine photos reach the frozen layers, nothing else.
    expect(extracted(left.events, 'train')).toBe(8)
    expect(extracted(left.events, 'val')).toBe(4)
    const metadata = await readMetadata(left.result.modelDir)
    expect(metadata.labels).toEqual(['cloudy', 'shine'])
    expect(metadata.training?.exclude).toEqual({ files: [cut], classes: ['rain'] })
  })

  it('the scan warnings a run keeps reach it as notices, and a test split used as validation is named', async () => {
    const { root } = smallSet()
    const photo = fs.readdirSync(path.join(root, 'train', 'shine')).sort()[0]
    // The same photo in train/shine and in test/shine, and test used as the validation folder.
    fs.mkdirSync(path.join(root, 'test', 'shine'), { recursive: true })
    fs.mkdirSync(path.join(root, 'test', 'cloudy'), { recursive: true })
    fs.mkdirSync(path.join(root, 'test', 'rain'), { recursive: true })
    fs.symlinkSync(fs.realpathSync(path.join(root, 'train', 'shine', photo)), path.join(root, 'test', 'shine', photo))
    for (const label of ['cloudy', 'rain']) {
      const name = fs.readdirSync(path.join(weather, 'val', label)).sort()[3]
      fs.symlinkSync(path.join(weather, 'val', label, name), path.join(root, 'test', label, name))
    }
    const data = await prepareTrainingData({ data: root, val: path.join(root, 'test'), valSplit: 0.2, seed: 1 })
    expect(data.warnings).toContainEqual(expect.stringMatching(/^The same image is in train and test: .*Training keeps both/))
    expect(data.warnings).toContainEqual(expect.stringMatching(/^The test split \(.*test\) now doubles as validation/))

    const excluded = await prepareTrainingData({
      data: root,
      val: path.join(root, 'test'),
      valSplit: 0.2,
      seed: 1,
      exclude: { files: [path.join(root, 'test', 'shine', photo)], classes: [] }
    })
    expect(excluded.warnings.some((w) => w.startsWith('The same image'))).toBe(false)
  })
})
