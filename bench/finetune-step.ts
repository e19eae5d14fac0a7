// Micro-benchmark (not a test; `npx tsx bench/finetune-step.ts`): seconds per training step of
// MobileNet v1 0.25's last two blocks and the dense head (frozen up to conv_pw_11_relu, so the
// steps start from 14x14x128 features), batch 32, Adam 1e-3, BatchNorm statistics frozen:
//   - the native training-step graph on onnxruntime-node (2 threads), with its outputs written into
//     pre-allocated buffers and without;
//   - tfjs's cpu backend through trainStep() (the path training takes today without tfjs-node);
//   - PyTorch autograd + Adam on the same layers (bench/finetune-step.py, 2 threads).
// Timings on a shared machine are noisy: the median and the range of each are printed.
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { HeadConfig } from '../src/shared/protocol'
import { loadBackbone } from '../src/engine/backbones/load'
import { suffixOf } from '../src/engine/finetune/build'
import { NativeTrainer } from '../src/engine/finetune/runner'
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

  const variants = [
    { preallocate: true, batchNorm: 'frozen' },
    { preallocate: false, batchNorm: 'frozen' },
    { preallocate: true, batchNorm: 'batch' }
  ] as const
  for (const { preallocate, batchNorm } of variants) {
    const trainer = await NativeTrainer.create(suffixOf(tm, part, tm.backbone.preprocess), SETTINGS, THREADS, { preallocate, batchNorm })
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
      engine: `onnxruntime-node, ${THREADS} threads, BN ${batchNorm}, outputs ${preallocate ? 'pre-allocated' : 'allocated by onnxruntime'}`,
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
  tm.model.dispose()
  loaded.model.dispose()
}

await main()
