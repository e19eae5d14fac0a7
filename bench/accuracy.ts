// `npm run bench -- accuracy`: validation accuracy of our default run against the five-line
// PyTorch recipe (Linear head with PyTorch's default initialisation, Adam 1e-3, batch 32, the same
// epochs), on every dataset in ../shared/data and every frozen backbone, as mean and spread over
// seeds: one seed's accuracy on a few dozen validation photos moves by several points.
//
// Both sides see exactly the same features of exactly the same images: ours are computed once per
// dataset and backbone by the engine (kept on disk by the feature cache) and handed to the peer,
// so what differs is the recipe, not the decoder or the runtime (the speed benchmark shows the
// features agree with PyTorch's own within 2e-5). The validation split is fixed (splitSeed 42)
// while the seed varies the head's initial weights and the batch order, on both sides.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { HeadConfig, TrainConfig, type TrainConfigInput } from '../src/shared/protocol'
import { describeRef } from '../src/engine/datasets/types'
import { prepareTrainingData } from '../src/engine/train/data'
import { train } from '../src/engine/train/trainer'
import { mean, SHARED, standardDeviation, torchPeer } from './common'

export const ACCURACY_DATASETS = ['mini/weather', 'mini/hymenoptera', 'mini/alien-vs-predator', 'hymenoptera', 'alien-vs-predator', 'cifar10-bin-subset']
export const ACCURACY_BACKBONES = ['mobilenet_v1_0.25_224', 'mobilenet_v1_0.75_224', 'resnet50']
const SPLIT_SEED = 42

export interface AccuracyOptions {
  mirror: string
  seeds: number[]
  torch: boolean
  threads: number
  datasets?: string[]
  backbones?: string[]
  /** Head initialisations of ours to measure; the first is the one compared with the peer. */
  inits?: Array<HeadConfig['init']>
  /** Settings on top of the defaults (the defaults are what this benchmark is about). */
  overrides?: Partial<TrainConfigInput>
  /** Told after each cell, with every row so far. */
  onRow?: (rows: AccuracyRow[]) => void
}

export interface AccuracyRow {
  dataset: string
  backbone: string
  trainImages: number
  valImages: number
  ours: Record<string, { val_accs: number[]; mean: number; sd: number }>
  pytorch: { val_accs: number[]; mean: number; sd: number } | null
}

export async function accuracyBench(options: AccuracyOptions): Promise<AccuracyRow[]> {
  const inits = options.inits ?? ['zeros', 'keras']
  const rows: AccuracyRow[] = []
  const defaults = HeadConfig.parse({})
  console.log(`Validation accuracy, mean ± sd over seeds ${options.seeds.join(',')} (${options.seeds.length} runs a cell); frozen backbone, default settings`)
  console.log(
    `ours: ${inits.map((i) => `head init '${i}'${i === defaults.init ? ' (default)' : ''}`).join(', ')}; pytorch: Linear head, its default init, Adam, same epochs and batch size, same features`
  )
  console.log(
    `${'dataset'.padEnd(24)}${'backbone'.padEnd(24)}${'train/val'.padStart(10)}${inits.map((i) => `ours ${i}`.padStart(16)).join('')}${'pytorch'.padStart(16)}  ours ≥ pytorch`
  )
  // Backbone by backbone, cheapest first: a long run still reports every cell it finished.
  for (const backbone of options.backbones ?? ACCURACY_BACKBONES) {
    for (const dataset of options.datasets ?? ACCURACY_DATASETS) {
      const row = await cell(dataset, backbone, inits, options)
      rows.push(row)
      options.onRow?.(rows)
      const fmt = (s: { mean: number; sd: number } | null): string => (s ? `${s.mean.toFixed(3)} ± ${s.sd.toFixed(3)}` : '-').padStart(16)
      const first = row.ours[inits[0]]
      const verdict = row.pytorch ? (first.mean >= row.pytorch.mean ? 'yes' : first.mean >= row.pytorch.mean - row.pytorch.sd ? 'within 1 sd' : 'NO') : '-'
      console.log(
        `${dataset.padEnd(24)}${backbone.padEnd(24)}${`${row.trainImages}/${row.valImages}`.padStart(10)}${inits.map((i) => fmt(row.ours[i])).join('')}${fmt(row.pytorch)}  ${verdict}`
      )
    }
  }
  return rows
}

async function cell(dataset: string, backbone: string, inits: Array<HeadConfig['init']>, options: AccuracyOptions): Promise<AccuracyRow> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-accuracy-'))
  try {
    const data = path.join(SHARED, 'data', dataset)
    // No memory budget: the features go to the cache on disk, where the peer reads them too.
    const base = { data, backbone, splitSeed: SPLIT_SEED, featureCacheMB: 0, ...options.overrides }
    const ours: AccuracyRow['ours'] = {}
    for (const init of inits) {
      const accs: number[] = []
      for (const seed of options.seeds) {
        const result = await train(TrainConfig.parse({ ...base, seed, head: { ...(options.overrides?.head ?? {}), init } }), { home, mirror: options.mirror })
        accs.push(result.valAcc!)
        // Each run saves its model (ResNet50's is 100 MB); the feature cache is what the next run needs.
        fs.rmSync(result.runDir, { recursive: true, force: true })
      }
      ours[init] = { val_accs: accs, mean: mean(accs), sd: standardDeviation(accs) }
    }
    const features = await exportFeatures(home, base)
    let pytorch: AccuracyRow['pytorch'] = null
    if (options.torch) {
      const settings = { epochs: 10, batchSize: 32, learningRate: 1e-3, ...options.overrides }
      const args = [
        'heads',
        '--features',
        features.dir,
        '--epochs',
        String(settings.epochs),
        '--batch-size',
        String(settings.batchSize),
        '--lr',
        String(settings.learningRate)
      ]
      const { val_accs } = torchPeer([...args, '--threads', String(options.threads), '--seeds', options.seeds.join(',')]) as { val_accs: number[] }
      pytorch = { val_accs, mean: mean(val_accs), sd: standardDeviation(val_accs) }
    }
    return { dataset, backbone, trainImages: features.train, valImages: features.val, ours, pytorch }
  } finally {
    fs.rmSync(home, { recursive: true, force: true })
  }
}

interface CacheIndex {
  count: number
  rowLength: number
  labels: number[]
  files: string[]
}

/**
 * The train and validation features our runs used, from the feature cache's files, written as
 * the peer reads them. Which cache entry is which split: the one whose images are the split's.
 */
async function exportFeatures(home: string, config: { data: string; splitSeed: number }) {
  const { classes, train: trainItems, val: valItems } = await prepareTrainingData({ data: config.data, valSplit: 0.2, seed: config.splitSeed })
  const cacheDir = path.join(home, 'cache', 'features')
  const entries = fs
    .readdirSync(cacheDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ key: f.slice(0, -5), index: JSON.parse(fs.readFileSync(path.join(cacheDir, f), 'utf8')) as CacheIndex }))
  const find = (items: typeof trainItems) => {
    const names = new Set(items.map((i) => describeRef(i.ref)))
    const entry = entries.find((e) => e.index.files.length > 0 && e.index.files.every((f) => names.has(f)) && e.index.files.length >= names.size * 0.9)
    if (!entry) throw new Error(`No cached features for ${items.length} images of ${config.data}`)
    return entry
  }
  const dir = path.join(home, 'peer')
  fs.mkdirSync(dir, { recursive: true })
  const out = { dir, train: 0, val: 0 }
  let width = 0
  for (const [name, items] of [
    ['train', trainItems],
    ['val', valItems]
  ] as const) {
    const { key, index } = find(items)
    fs.copyFileSync(path.join(cacheDir, `${key}.f32`), path.join(dir, `${name}.f32`))
    fs.writeFileSync(path.join(dir, `${name}.labels`), new Uint8Array(Int32Array.from(index.labels).buffer))
    out[name] = index.count
    width = index.rowLength
  }
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ width, classes: classes.length }))
  return out
}
