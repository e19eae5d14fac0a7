// Micro-benchmark (not a test; `npx tsx bench/finetune-step.ts`): seconds per training step of
// MobileNet v1 0.25's last two blocks and the dense head (frozen up to conv_pw_11_relu, so the
// steps start from 14x14x128 features), batch 32, Adam 1e-3, BatchNorm statistics frozen:
//   - the native training-step graph on onnxruntime-node (2 threads), with its outputs written into
//     pre-allocated buffers and without;
//   - tfjs's cpu backend through trainStep() (the path training takes today without tfjs-node);
//   - PyTorch autograd + Adam on the same layers (bench/finetune-step.py, 2 threads).
// Then seconds per validation batch (class probabilities, inference mode) of the same layers:
//   - the trainer's own scoring session, fed the weights each batch (what a run validates with);
//   - the same graph with the weights as constants: once with our blocked convolutions, once with
//     standard ones that onnxruntime's optimizer rewrites itself (BatchNorm and activation folded
//     into blocked convolutions that pass the blocked layout on: what batchnorm-fold.ts has the fed
//     graph do since 2026-12-02);
// PyTorch's own validation batch is timed by the epoch benchmark's peer (bench/finetune_peer.py):
// this file's PyTorch model, with its own initialisation, took 3-5 ms or 20-45 ms a batch depending
// on the process, so it is no yardstick for a few milliseconds.
// Timings on a shared machine are noisy: the median and the range of each are printed.
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { HeadConfig } from '../src/shared/protocol'
import { loadBackbone } from '../src/engine/backbones/load'
import { buildScoringGraph, FEATURES, SCORES, suffixOf, type SuffixSpec } from '../src/engine/finetune/build'
import { probeNchwc } from '../src/engine/finetune/nchwc'
import { NativeTrainer, sessionOptions } from '../src/engine/finetune/runner'
import { loadOnnxRuntime } from '../src/engine/onnx-runtime'
import { buildTransferModel } from '../src/engine/model/build'
import { applyFreeze } from '../src/engine/model/freeze'
import { makeOptimizer } from '../src/engine/train/optimizer'
import { partition } from '../src/engine/train/partition'
import { trainableVariables, trainStep } from '../src/engine/train/step'
import { seededRandom } from '../src/engine/util/random'
import { hasTorch, PYTHON, ROOT, weightsMirror } from './common'

const BATCH = 32
const THREADS = 2
const NATIVE_STEPS = Number(process.env.NATIVE_STEPS ?? 20)
const TFJS_STEPS = Number(process.env.TFJS_STEPS ?? 3)
const TORCH_STEPS = Number(process.env.TORCH_STEPS ?? 20)
const SCORING_BATCHES = Number(process.env.SCORING_BATCHES ?? 100)
const SETTINGS = { optimizer: 'adam', learningRate: 1e-3, momentum: 0 } as const

interface Row {
  engine: string
  seconds: number[]
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

async function main(): Promise<void> {
  const loaded = await loadBackbone('mobilenet_v1_0.25_224', { home: path.join(ROOT, '.cache', 'bench-home'), mirror: weightsMirror() })
  await tf.setBackend('cpu')
  const tm = buildTransferModel(loaded, { classes: ['ants', 'bees'], head: HeadConfig.parse({ init: 'keras' }), inputSize: 224, seed: 1 })
  applyFreeze(tm, { kind: 'upTo', layer: 'conv_pw_11_relu' })
  const part = partition(tm)
  const random = seededRandom(1)
  // ReLU6 outputs: the timing does not depend on the values, only their range is realistic.
  const features = Float32Array.from({ length: BATCH * part.featureShape.reduce((a, b) => a * b) }, () => random() * 6)
  const labels = Int32Array.from({ length: BATCH }, (_, i) => i % 2)
  const rows: Row[] = []

  // maxBatch as the trainer passes it (the depthwise kernel gradients on the blocked kernels too).
  const variants = [
    { preallocate: true, batchNorm: 'frozen', fold: true },
    { preallocate: false, batchNorm: 'frozen', fold: true },
    { preallocate: true, batchNorm: 'frozen', fold: false },
    { preallocate: true, batchNorm: 'batch', fold: true }
  ] as const
  for (const { preallocate, batchNorm, fold } of variants) {
    const options = { preallocate, batchNorm, maxBatch: BATCH, foldBatchNorm: fold }
    const trainer = await NativeTrainer.create(suffixOf(tm, part, tm.backbone.preprocess), SETTINGS, THREADS, options)
    if (typeof trainer === 'string') throw new Error(trainer)
    for (let i = 0; i < 3; i++) await trainer.step(features, labels)
    const seconds: number[] = []
    for (let i = 0; i < NATIVE_STEPS; i++) {
      const started = performance.now()
      await trainer.step(features, labels)
      seconds.push((performance.now() - started) / 1000)
    }
    await trainer.close()
    rows.push({
      engine: `onnxruntime-node, ${THREADS} threads, BN ${batchNorm}${batchNorm === 'frozen' && !fold ? ' (not folded into the convolutions)' : ''}, outputs ${preallocate ? 'pre-allocated' : 'allocated by onnxruntime'}`,
      seconds
    })
  }

  {
    const optimizer = makeOptimizer(SETTINGS)
    const x = tf.tensor(features, [BATCH, ...part.featureShape])
    const variables = trainableVariables(part)
    trainStep(part, optimizer, variables, x, labels, 2)
    const seconds: number[] = []
    for (let i = 0; i < TFJS_STEPS; i++) {
      const started = performance.now()
      trainStep(part, optimizer, variables, x, labels, 2)
      seconds.push((performance.now() - started) / 1000)
    }
    x.dispose()
    rows.push({ engine: 'tfjs cpu backend, trainStep (1 thread, BN batch: tfjs training mode)', seconds })
  }

  if (hasTorch()) {
    for (const bnTrain of [false, true]) {
      const args = [path.join(ROOT, 'bench', 'finetune-step.py'), '--batch', String(BATCH), '--steps', String(TORCH_STEPS), '--threads', String(THREADS)]
      const out = execFileSync(PYTHON, bnTrain ? [...args, '--bn-train'] : args, { encoding: 'utf8' })
      const result = JSON.parse(out) as { seconds: number[]; torch: string }
      rows.push({
        engine: `PyTorch ${result.torch} autograd + Adam, ${THREADS} threads, BN ${bnTrain ? 'batch (train mode)' : 'frozen (eval mode)'}`,
        seconds: result.seconds
      })
    }
  } else {
    console.log('PyTorch not available to /usr/bin/python3: its row is left out')
  }

  // Each row against PyTorch with BatchNorm in the same mode.
  const peer = (row: Row) => rows.find((r) => r.engine.startsWith('PyTorch') && r.engine.includes(row.engine.includes('BN batch') ? 'BN batch' : 'BN frozen'))
  console.log(
    `\nOne training step, MobileNet v1 0.25 conv_dw_12..head, batch ${BATCH}, Adam (load average ${os.loadavg()[0].toFixed(1)}; a shared machine: noisy)`
  )
  console.log('engine | steps | median s/step | min | max | median / PyTorch same BN mode')
  for (const row of rows) {
    const torch = peer(row)
    const ratio = torch ? (median(row.seconds) / median(torch.seconds)).toFixed(2) : '-'
    console.log(
      `${row.engine} | ${row.seconds.length} | ${median(row.seconds).toFixed(4)} | ${Math.min(...row.seconds).toFixed(4)} | ${Math.max(...row.seconds).toFixed(4)} | ${ratio}`
    )
  }
  await scoring(suffixOf(tm, part, tm.backbone.preprocess), features)
  tm.model.dispose()
  loaded.model.dispose()
}

/** Seconds a validation batch, fed weights against constant ones (see the top of this file). */
async function scoring(suffix: SuffixSpec, features: Float32Array): Promise<void> {
  const runtime = await loadOnnxRuntime()
  if (typeof runtime === 'string') throw new Error(runtime)
  const found = await probeNchwc(runtime)
  const block = 'block' in found ? { block: found.block } : null
  const trainer = await NativeTrainer.create(suffix, SETTINGS, THREADS, {})
  if (typeof trainer === 'string') throw new Error(trainer)
  // The graph takes a weight as a constant when its layer does not train.
  const constant = (nchwc: typeof block) => {
    const layers = suffix.nodes.map((node) => node.layer).filter((layer) => layer.trainable)
    for (const layer of layers) layer.trainable = false
    try {
      return buildScoringGraph(suffix, new Map(), nchwc)
    } finally {
      for (const layer of layers) layer.trainable = true
    }
  }
  const sessions = [
    { name: 'constant weights, our blocked convolutions', bytes: constant(block) },
    { name: "constant weights, standard convolutions onnxruntime's optimizer rewrites", bytes: constant(null) }
  ]
  const shape = [BATCH, ...suffix.input.shape]
  const runs: { name: string; run: () => Promise<Float32Array> }[] = [
    { name: "fed weights (the trainer's validation)", run: () => trainer.predict(features, BATCH) }
  ]
  for (const { name, bytes } of sessions) {
    const session = await runtime.InferenceSession.create(bytes, sessionOptions(THREADS, 'scoring'))
    runs.push({ name, run: async () => (await session.run({ [FEATURES]: new runtime.Tensor('float32', features, shape) }))[SCORES].data as Float32Array })
  }
  // Interleaved, a few batches each in turn, so the machine's drift falls on every variant alike.
  const seconds = runs.map(() => [] as number[])
  const outputs: Float32Array[] = runs.map(() => new Float32Array(0))
  for (let round = 0; round < SCORING_BATCHES / 5 + 2; round++) {
    for (const [i, { run }] of runs.entries()) {
      for (let k = 0; k < 5; k++) {
        const started = performance.now()
        outputs[i] = await run()
        if (round >= 2) seconds[i].push((performance.now() - started) / 1000)
      }
    }
  }
  await trainer.close()
  const rows = runs.map(({ name }, i) => ({ engine: `onnxruntime-node, ${THREADS} threads, ${name}`, seconds: seconds[i] }))
  const differs = outputs.map((out) => Math.max(...out.map((value, j) => Math.abs(value - outputs[0][j]))))
  console.log(
    `\nOne validation batch, the same layers, batch ${BATCH} (probabilities differ from the fed graph's by at most ${Math.max(...differs).toExponential(1)})`
  )
  console.log('engine | batches | median s/batch | min | max | median / fed')
  for (const row of rows) {
    const ratio = (median(row.seconds) / median(rows[0].seconds)).toFixed(2)
    console.log(
      `${row.engine} | ${row.seconds.length} | ${median(row.seconds).toFixed(4)} | ${Math.min(...row.seconds).toFixed(4)} | ${Math.max(...row.seconds).toFixed(4)} | ${ratio}`
    )
  }
}

await main()
