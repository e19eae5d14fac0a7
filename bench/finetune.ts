// `npm run bench -- finetune`: fine-tuning per epoch, ours (the trainer as a run uses it: frozen
// prefix cached, the unfrozen layers on the step chooseTrainingStep picks) against PyTorch
// (bench/finetune_peer.py) in the same run: same weight files, photos, trainable layers, Adam 1e-3,
// batch 32, Glorot Dense softmax head, 2 threads; BatchNorm of the unfrozen layers frozen
// (PyTorch eval mode) and trained (train mode). Each run is its own process, so peak RSS is its own;
// ours gets the environment an engine process gets (withHugePageMalloc), PyTorch's this one's.
// BENCH_FT_CASES=a,b,c, BENCH_FT_BN=frozen,train, BENCH_FT_SEEDS=1,2,3 and BENCH_FT_EPOCHS_A=… choose
// what runs; val accuracy is the last epoch's, mean ± sd over the seeds.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { TrainConfig, type TrainConfigInput, type TrainEvent } from '../src/shared/protocol'
import { backboneSpec } from '../src/engine/backbones/registry'
import { withHugePageMalloc } from '../src/engine/environment'
import { train } from '../src/engine/train/trainer'
import { hasTorch, PYTHON, ROOT, SHARED, weightsMirror } from './common'

const DATA = path.join(SHARED, 'data', 'hymenoptera')
const THREADS = 2

interface Case {
  id: string
  what: string
  backbone: string
  /** The last frozen layer, or null when every layer trains. */
  cut: string | null
  epochs: number
}

const CASES: Case[] = [
  {
    id: 'a',
    what: 'MobileNet v1 0.25, last two blocks trainable',
    backbone: 'mobilenet_v1_0.25_224',
    cut: 'conv_pw_11_relu',
    epochs: Number(process.env.BENCH_FT_EPOCHS_A ?? 5)
  },
  {
    id: 'b',
    what: 'MobileNet v1 0.25, every layer trainable',
    backbone: 'mobilenet_v1_0.25_224',
    cut: null,
    epochs: Number(process.env.BENCH_FT_EPOCHS_B ?? 3)
  },
  // The tfjs ResNet50 keeps Keras 2.1's names: activation_39 ends conv4 (res4f), res5* is conv5.
  { id: 'c', what: 'ResNet50, conv5 trainable', backbone: 'resnet50', cut: 'activation_39', epochs: Number(process.env.BENCH_FT_EPOCHS_C ?? 2) }
]

interface Measured {
  epochs: { seconds: number; val_acc: number | null }[]
  setup_seconds: number
  peak_rss_mb: number
  engine?: string
}

/** One of our runs, in this (child) process. */
async function ours(c: Case, bn: 'frozen' | 'train', seed: number): Promise<Measured> {
  const started = performance.now()
  const config: TrainConfigInput = {
    data: DATA,
    backbone: c.backbone,
    freeze: c.cut ? { kind: 'upTo', layer: c.cut } : { kind: 'none' },
    epochs: c.epochs,
    batchSize: 32,
    learningRate: 1e-3,
    optimizer: 'adam',
    seed,
    head: { pooling: 'avg', dropout: 0, dense: [], init: 'keras' },
    batchNormStatistics: bn
  }
  const notices: string[] = []
  let firstEpoch = 0
  const result = await train(TrainConfig.parse(config), {
    home: fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ft-')),
    mirror: weightsMirror(),
    onEvent: (e: TrainEvent) => {
      if (e.event === 'notice') notices.push(e.message)
      if (e.event === 'batch' && firstEpoch === 0) firstEpoch = performance.now()
    }
  })
  const epochs = result.history.map((h) => ({ seconds: h.seconds, val_acc: h.val_acc }))
  const total = (performance.now() - started) / 1000
  return {
    epochs,
    setup_seconds: total - epochs.reduce((a, e) => a + e.seconds, 0),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    engine: notices.find((m) => m.startsWith('Unfrozen layers'))
  }
}

function torch(c: Case, bn: 'frozen' | 'train', seed: number): Measured {
  const spec = backboneSpec(c.backbone)
  const args = [
    path.join(ROOT, 'bench', 'finetune_peer.py'),
    '--model',
    path.join(weightsMirror(), spec.id),
    '--feature',
    spec.featureLayer,
    '--cut',
    c.cut ?? ''
  ]
  args.push('--data', DATA, '--epochs', String(c.epochs), '--threads', String(THREADS), '--preprocess', spec.preprocess)
  args.push('--seed', String(seed))
  if (bn === 'train') args.push('--bn-train')
  return JSON.parse(execFileSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 1 << 26 })) as Measured
}

/** Per-epoch time: the mean over epochs after the first (warm-up) when there are several. */
function perEpoch(m: Measured): number {
  const list = m.epochs.length > 1 ? m.epochs.slice(1) : m.epochs
  return list.reduce((a, e) => a + e.seconds, 0) / list.length
}

interface Summary {
  seconds_per_epoch: number
  /** The last epoch's val accuracy: mean and sample standard deviation over seeds. */
  val_acc: number
  val_acc_sd: number
  peak_rss_mb: number
}

function summary(runs: Measured[]): Summary {
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
  const acc = runs.map((m) => m.epochs.at(-1)?.val_acc ?? 0)
  const m = mean(acc)
  return {
    seconds_per_epoch: mean(runs.map(perEpoch)),
    val_acc: m,
    val_acc_sd: acc.length > 1 ? Math.sqrt(acc.reduce((a, x) => a + (x - m) ** 2, 0) / (acc.length - 1)) : 0,
    peak_rss_mb: Math.max(...runs.map((r) => r.peak_rss_mb))
  }
}

async function parent(): Promise<void> {
  const wanted = (process.env.BENCH_FT_CASES ?? 'a,b,c').split(',')
  const modes = (process.env.BENCH_FT_BN ?? 'frozen,train').split(',') as ('frozen' | 'train')[]
  const seeds = (process.env.BENCH_FT_SEEDS ?? '1,2,3').split(',').map(Number)
  const withTorch = hasTorch()
  const date = new Date().toISOString()
  const out = path.join(ROOT, 'bench', 'results', `finetune-${date.replace(/[:.]/g, '-')}.json`)
  const rows: Record<string, unknown>[] = []
  console.log(
    `Fine-tuning per epoch on ${DATA} (${THREADS} threads each; load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')})`
  )
  for (const c of CASES.filter((x) => wanted.includes(x.id))) {
    for (const bn of modes) {
      const load = os.loadavg()[0]
      const mine: Measured[] = []
      const theirs: Measured[] = []
      for (const seed of seeds) {
        const child = execFileSync(process.execPath, [...process.execArgv, path.join(ROOT, 'bench', 'finetune.ts'), 'one', c.id, bn, String(seed)], {
          encoding: 'utf8',
          maxBuffer: 1 << 26,
          env: withHugePageMalloc(process.env)
        })
        mine.push(JSON.parse(child.trim().split('\n').at(-1)!) as Measured)
        if (withTorch) theirs.push(torch(c, bn, seed))
      }
      const row = {
        case: c.id,
        what: c.what,
        bn,
        epochs: c.epochs,
        seeds,
        load_average: load,
        ours: summary(mine),
        pytorch: withTorch ? summary(theirs) : null,
        runs: { ours: mine, pytorch: theirs }
      }
      const ratio = row.pytorch ? row.ours.seconds_per_epoch / row.pytorch.seconds_per_epoch : null
      rows.push({ ...row, ratio })
      const show = (s: Summary) =>
        `${s.seconds_per_epoch.toFixed(2)} s/epoch, val_acc ${s.val_acc.toFixed(3)} ± ${s.val_acc_sd.toFixed(3)}, peak ${s.peak_rss_mb.toFixed(0)} MB`
      console.log(
        `(${c.id}) ${c.what}, BN ${bn}, ${c.epochs} epochs, seeds ${seeds.join(',')}: ours ${show(row.ours)}` +
          (row.pytorch ? ` | PyTorch ${show(row.pytorch)} | ratio ${ratio!.toFixed(2)}` : '') +
          ` | ${mine[0]?.engine ?? ''}`
      )
      fs.mkdirSync(path.dirname(out), { recursive: true })
      fs.writeFileSync(out, JSON.stringify({ date, threads: THREADS, cpu: os.cpus()[0]?.model, rows }, null, 2))
    }
  }
  console.log(`Written to ${path.relative(ROOT, out)}`)
}

if (process.argv[2] === 'one') {
  const c = CASES.find((x) => x.id === process.argv[3])!
  const measured = await ours(c, process.argv[4] as 'frozen' | 'train', Number(process.argv[5]))
  console.log(JSON.stringify(measured))
  process.exit(0)
} else {
  await parent()
}
