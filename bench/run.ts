// `npm run bench`: frozen-backbone throughput and time to a trained model, ours against PyTorch
// on CPU with the same architecture and the same weight files, measured in the same run.
// Prints a table and writes bench/results/<time>.json. Not a test: nothing here asserts a time.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { HeadConfig, TrainConfig, type TrainEvent } from '../src/shared/protocol'
import { initBackend } from '../src/engine/backend'
import { loadBackbone } from '../src/engine/backbones/load'
import { backboneSpec } from '../src/engine/backbones/registry'
import { loadDataset } from '../src/engine/datasets/scan'
import { decodeImage } from '../src/engine/images/decode'
import { buildTransferModel } from '../src/engine/model/build'
import { applyFreeze } from '../src/engine/model/freeze'
import { partition, prefixSpec } from '../src/engine/train/partition'
import { modelInput } from '../src/engine/train/pixels'
import { OnnxPrefix } from '../src/engine/prefix/onnx'
import { PrefixPool } from '../src/engine/prefix/pool'
import { mainThreadRunner } from '../src/engine/prefix/main-thread'
import type { PrefixRunner, PrefixSpec } from '../src/engine/prefix/runner'
import { FeatureMemo } from '../src/engine/train/features'
import { train } from '../src/engine/train/trainer'
import { mapLimit } from '../src/engine/util/concurrency'
import { accuracyBench } from './accuracy'
import { hasTorch, mean, PYTHON, ROOT, SHARED, torchPeer, weightsMirror } from './common'

const HYMENOPTERA = path.join(SHARED, 'data', 'hymenoptera')
const BACKBONES = ['mobilenet_v1_0.25_224', 'mobilenet_v1_0.75_224', 'resnet50']
const BATCHES = [1, 8, 32]
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
/** Accuracy is compared as a mean over these seeds: one seed's val_acc moves by several points. */
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

/** Images per second through `runner`, keeping `runner.parallel` batches in flight. */
async function throughput(runner: PrefixRunner, size: number, batch: number): Promise<number> {
  const pixels = Uint8Array.from({ length: batch * size * size * 3 }, (_, i) => (i * 7919) % 256)
  await Promise.all(Array.from({ length: runner.parallel }, () => runner.run(pixels, batch))) // warm-up
  let images = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: runner.parallel }, async () => {
      while (performance.now() - started < SECONDS * 1000) {
        await runner.run(pixels, batch)
        images += batch
      }
    })
  )
  return images / ((performance.now() - started) / 1000)
}

/** The transfer model's frozen prefix (backbone + average pooling), as training runs it. */
async function frozenPrefix(backbone: string, mirror: string, home: string) {
  const loaded = await loadBackbone(backbone, { mirror, home })
  const tm = buildTransferModel(loaded, { classes: ['a', 'b'], head: HeadConfig.parse({}), inputSize: loaded.spec.inputSize, seed: 1 })
  applyFreeze(tm, { kind: 'all' })
  const part = partition(tm)
  const spec = prefixSpec(tm, part, tm.backbone.preprocess)!
  return { spec, dispose: () => (part.dispose(), tm.model.dispose(), loaded.model.dispose()) }
}

async function photos(size: number): Promise<Uint8Array> {
  const images = await Promise.all(['chelsea.png', 'coffee.png'].map((f) => decodeImage(path.join(SHARED, 'data', 'photos', f), size)))
  return Uint8Array.from(images.flatMap((p) => [...p.data]))
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return a.length === b.length ? worst : Infinity
}

/** The same preprocessed photos through PyTorch: its pooled features. */
function torchFeatures(spec: PrefixSpec, modelDir: string, feature: string, pixels: Uint8Array, count: number): Float32Array {
  const input = preprocessed(spec, pixels, count)
  const file = path.join(os.tmpdir(), `bench-input-${process.pid}.f32`)
  fs.writeFileSync(file, new Uint8Array(input.buffer, input.byteOffset, input.byteLength))
  const args = ['verify', '--model', modelDir, '--feature', feature, '--input', file, '--shape', [count, spec.size, spec.size, 3].join(','), '--pool']
  const out = execFileSync(PYTHON, [path.join(ROOT, 'bench', 'torch_peer.py'), ...args], { maxBuffer: 1 << 30 })
  fs.rmSync(file, { force: true })
  return new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength))
}

/** What the backbone sees: Keras' preprocess_input of the pixels. */
function preprocessed(spec: PrefixSpec, pixels: Uint8Array, count: number): Float32Array {
  return tf.tidy(() => modelInput(pixels, count, spec.size, spec.preprocess).dataSync() as Float32Array)
}

async function extraction(mirror: string, home: string, torch: boolean, threadCounts: number[]) {
  const rows = []
  console.log('Feature extraction (images/s): ours = onnxruntime-node, the runner training uses; tfjs-wasm = the runner without it')
  console.log('(one thread in this process, or one worker per thread); PyTorch with the same thread count. Input: pixels; output: pooled features.')
  console.log('backbone                 threads batch      ours tfjs-wasm   pytorch  ours/pytorch')
  for (const backbone of BACKBONES) {
    const { spec, dispose } = await frozenPrefix(backbone, mirror, home)
    const modelDir = path.join(mirror, backbone)
    const { featureLayer } = backboneSpec(backbone)
    // Agreement on real photos: onnxruntime against tfjs and against PyTorch.
    const pixels = await photos(spec.size)
    const onnxCheck = await OnnxPrefix.create(spec, 1)
    if (typeof onnxCheck === 'string') throw new Error(onnxCheck)
    const ours = await onnxCheck.run(pixels, 2)
    await onnxCheck.close()
    const versusTfjs = maxDifference(ours, await mainThreadRunner(spec, 'wasm').run(pixels, 2))
    const versusTorch = torch ? maxDifference(ours, torchFeatures(spec, modelDir, featureLayer, pixels, 2)) : null

    for (const threads of threadCounts) {
      const onnx = await OnnxPrefix.create(spec, threads)
      if (typeof onnx === 'string') throw new Error(onnx)
      const wasm = threads === 1 ? mainThreadRunner(spec, 'wasm') : await PrefixPool.create(spec, threads)
      const peer = torch
        ? (torchPeer([
            'extract',
            '--model',
            modelDir,
            '--feature',
            featureLayer,
            '--pool',
            '--batch-sizes',
            BATCHES.join(','),
            '--threads',
            String(threads),
            '--seconds',
            String(SECONDS)
          ]) as {
            results: Array<{ batch: number; images_per_second: number }>
          })
        : null
      for (const batch of BATCHES) {
        const oursRate = await throughput(onnx, spec.size, batch)
        const wasmRate = wasm ? await throughput(wasm, spec.size, batch) : null
        const theirs = peer?.results.find((r) => r.batch === batch)?.images_per_second ?? null
        const ratio = theirs ? oursRate / theirs : null
        rows.push({
          backbone,
          threads,
          batch,
          ours: oursRate,
          tfjs_wasm: wasmRate,
          pytorch: theirs,
          ratio,
          max_difference_vs_tfjs: versusTfjs,
          max_difference_vs_pytorch: versusTorch
        })
        console.log(
          `${backbone.padEnd(24)} ${String(threads).padStart(7)} ${String(batch).padStart(5)} ${oursRate.toFixed(1).padStart(9)} ${(wasmRate?.toFixed(1) ?? '-').padStart(9)} ${(theirs?.toFixed(1) ?? '-').padStart(9)} ${(ratio?.toFixed(2) ?? '-').padStart(13)}`
        )
      }
      await onnx.close()
      await wasm?.close()
    }
    console.log(
      `  ${backbone}: max |difference| of features on two photos: vs tfjs ${versusTfjs.toExponential(1)}, vs PyTorch ${versusTorch?.toExponential(1) ?? '-'}`
    )
    dispose()
  }
  return rows
}

async function decodeThroughput(): Promise<number> {
  const { train: items, val } = await loadDataset(HYMENOPTERA)
  const files = [...items, ...val].map((i) => (i.ref.kind === 'file' ? i.ref.path : ''))
  const started = performance.now()
  await mapLimit(files, 4, (f) => decodeImage(f, 224))
  return files.length / ((performance.now() - started) / 1000)
}

/** One timed run (seed 42, a fresh home: nothing cached), then the seeds for the accuracy mean. */
async function ourTraining(mirror: string) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-home-'))
  // Keras' Glorot head, as the peer's here: this section measures time for the same recipe (bench/accuracy.ts compares defaults).
  const config = { data: HYMENOPTERA, backbone: 'mobilenet_v1_0.75_224', epochs: 10, head: { init: 'keras' as const } }
  const marks: Record<string, number> = {}
  let runner = ''
  const started = performance.now()
  const onEvent = (e: TrainEvent): void => {
    const now = (performance.now() - started) / 1000
    if (e.event === 'status' && e.phase === 'extracting') {
      marks.extractStart ??= now
      marks.extractEnd = now
    }
    if (e.event === 'notice' && e.message.startsWith('Frozen layers')) runner = e.message
    if (e.event === 'epoch') marks.lastEpoch = now
  }
  // The engine session's memo: the seeds below reuse these features, as the app's runs do.
  const features = new FeatureMemo()
  const result = await train(TrainConfig.parse(config), { home, mirror, onEvent, features })
  const timed = {
    val_acc: result.valAcc,
    seconds: result.seconds,
    load: marks.extractStart ?? 0,
    decode_and_extract: (marks.extractEnd ?? 0) - (marks.extractStart ?? 0),
    head: (marks.lastEpoch ?? 0) - (marks.extractEnd ?? 0),
    path: result.path,
    runner
  }
  // The same process keeps the features: these runs train heads only.
  const accuracies = []
  for (const seed of SEEDS) accuracies.push((await train(TrainConfig.parse({ ...config, seed }), { home, mirror, features })).valAcc!)
  return { ...timed, val_accs: accuracies, mean_val_acc: mean(accuracies) }
}

/** Ours without the feature cache: the frozen layers run every batch of every epoch, as Keras' fit() does. */
async function ourPerEpochTraining(mirror: string) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-home-'))
  const result = await train(
    TrainConfig.parse({ data: HYMENOPTERA, backbone: 'mobilenet_v1_0.75_224', epochs: 10, cacheFeatures: false, head: { init: 'keras' } }),
    { home, mirror }
  )
  return { val_acc: result.valAcc, seconds: result.seconds, path: result.path }
}

async function main(): Promise<void> {
  const backend = await initBackend()
  const mirror = weightsMirror()
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'))
  const torch = hasTorch()
  const cores = os.availableParallelism()
  const threadCounts = [...new Set([1, cores])]
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    backend,
    cpus: os.cpus()[0]?.model,
    cores,
    torch: torch ? 'python3-torch (Debian)' : null
  }
  if (!torch) console.log('PyTorch peer not available: apt-get install python3-torch python3-torchvision (ours is still measured)\n')
  console.log(`Backend: ${backend.inference} + ${backend.training}; frozen layers on ${backend.frozenLayers}\n`)

  console.log(`Time to a trained hymenoptera model (MobileNet v1 0.75 frozen, 10 epochs, seed 42; ${cores} threads);`)
  console.log(`accuracy also as the mean over seeds ${SEEDS[0]}..${SEEDS.at(-1)} (same recipe: Dense softmax head, Glorot init, Adam 1e-3, batch 32)`)
  const ours = await ourTraining(mirror)
  const rows: Array<Record<string, unknown>> = [
    { who: 'ours', ...ours },
    { who: 'ours, backbone every epoch', ...(await ourPerEpochTraining(mirror)) }
  ]
  if (torch) {
    const spec = backboneSpec('mobilenet_v1_0.75_224')
    const common = ['train', '--model', path.join(mirror, spec.id), '--feature', spec.featureLayer, '--data', HYMENOPTERA, '--threads', String(cores)]
    const cached = torchPeer([...common, '--mode', 'cached', '--seeds', [42, ...SEEDS].join(',')]) as { val_accs: number[] }
    const seeds = cached.val_accs.slice(1)
    rows.push({ who: 'pytorch, features cached', ...cached, val_accs: seeds, mean_val_acc: mean(seeds) })
    rows.push({ who: 'pytorch, backbone every epoch', ...(torchPeer([...common, '--mode', 'per-epoch', '--seeds', '42']) as object) })
  }
  for (const row of rows) {
    const meanAcc = typeof row.mean_val_acc === 'number' ? `   mean over seeds ${row.mean_val_acc.toFixed(3)}` : ''
    console.log(`  ${String(row.who).padEnd(30)} ${Number(row.seconds).toFixed(1).padStart(7)} s   val_acc ${Number(row.val_acc).toFixed(3)}${meanAcc}`)
  }
  console.log(
    `  ours: ${ours.runner}; loading ${ours.load.toFixed(1)} s, decode + extract ${ours.decode_and_extract.toFixed(1)} s, head ${ours.head.toFixed(1)} s`
  )
  report.training = rows

  // Measured first, so this is the memory a training run needs (plus this script's own).
  report.peak_rss_after_training_mb = process.resourceUsage().maxRSS / 1024
  report.tensors_alive_after_training = tf.memory().numTensors
  console.log(`  peak RSS so far ${(report.peak_rss_after_training_mb as number).toFixed(0)} MB; tensors alive ${report.tensors_alive_after_training}\n`)

  report.extraction = await extraction(mirror, home, torch, threadCounts)

  const decode = await decodeThroughput()
  report.decode_resize_images_per_second = decode
  console.log(`\nDecode + resize to 224 (sharp, 4 in flight): ${decode.toFixed(1)} images/s on hymenoptera`)

  report.peak_rss_mb = process.resourceUsage().maxRSS / 1024
  report.tensors_alive = tf.memory().numTensors
  console.log(
    `\nPeak RSS of the whole benchmark (every backbone, worker pools and sessions) ${(report.peak_rss_mb as number).toFixed(0)} MB; tensors alive at the end: ${report.tensors_alive}`
  )
  const out = reportFile('speed')
  writeReport(out, report)
  console.log(`Written to ${path.relative(ROOT, out)}`)
}

/** `npm run bench` runs both; `npm run bench -- speed` or `-- accuracy` one of them. */
async function accuracy(): Promise<void> {
  await initBackend()
  const torch = hasTorch()
  if (!torch) console.log('PyTorch peer not available: apt-get install python3-torch python3-torchvision (ours is still measured)\n')
  const list = (name: string) => process.env[name]?.split(',').filter(Boolean)
  const date = new Date().toISOString()
  const out = reportFile('accuracy')
  const rows = await accuracyBench({
    mirror: weightsMirror(),
    seeds: SEEDS,
    torch,
    threads: os.availableParallelism(),
    datasets: list('BENCH_DATASETS'),
    backbones: list('BENCH_BACKBONES'),
    inits: list('BENCH_INITS') as Array<HeadConfig['init']> | undefined,
    onRow: (rows) => writeReport(out, { date, seeds: SEEDS, complete: false, rows })
  })
  writeReport(out, { date, seeds: SEEDS, complete: true, rows })
  console.log(`Written to ${path.relative(ROOT, out)}`)
}

function reportFile(kind: string): string {
  return path.join(ROOT, 'bench', 'results', `${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
}

function writeReport(out: string, report: object): void {
  fs.mkdirSync(path.dirname(out), { recursive: true })
  fs.writeFileSync(out, JSON.stringify(report, null, 2))
}

const which = process.argv[2] ?? 'all'
if (!['all', 'speed', 'accuracy', 'finetune'].includes(which))
  throw new Error(`Unknown benchmark ${which}: speed, accuracy, finetune (or nothing for speed and accuracy)`)
// Fine-tuning per epoch against PyTorch (bench/finetune.ts): long, so only when asked for.
if (which === 'finetune') await import('./finetune')
else {
  if (which !== 'accuracy') await main()
  if (which !== 'speed') await accuracy()
}
