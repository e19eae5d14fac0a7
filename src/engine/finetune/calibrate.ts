// This machine's training speed, measured once per engine session: a few native training steps of
// a small fine-tuning graph (a MobileNet block and a 3x3 convolution, batch 16), in floating-point
// operations per second as shared/layer-cost.ts counts them, so the layer tree can turn any set of
// toggles into seconds per epoch. Measured, not assumed: the same code path a run takes, on
// whatever else the machine is doing at the time.
import os from 'node:os'
import * as tf from '@tensorflow/tfjs'
import { epochCost, type EpochCost } from '../../shared/layer-cost'
import type { TrainingSpeed } from '../../shared/protocol'
import { suffixOfModel } from './build'
import { NativeTrainer } from './runner'

const BATCH = 16
const SHAPE = [14, 14, 64]
const WARMUP = 2
const STEPS = 5

let measured: Promise<TrainingSpeed> | undefined

/** The speed, measured on the first call and remembered for the engine's life. */
export function trainingSpeed(): Promise<TrainingSpeed> {
  measured ??= calibrate().catch((error: Error) => {
    measured = undefined // a failure is not remembered: the next call tries again
    throw error
  })
  return measured
}

function calibrationModel(): tf.LayersModel {
  const x = tf.input({ shape: SHAPE })
  let y = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor
  y = tf.layers.batchNormalization({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.conv2d({ filters: 128, kernelSize: 1, useBias: false }).apply(y) as tf.SymbolicTensor
  y = tf.layers.batchNormalization({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor
  y = tf.layers.conv2d({ filters: 128, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(y) as tf.SymbolicTensor
  y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor
  y = tf.layers.dense({ units: 2, activation: 'softmax' }).apply(y) as tf.SymbolicTensor
  return tf.model({ inputs: x, outputs: y })
}

/** The model's cost as the layer tree would count it (every layer trainable). */
export function modelCost(model: tf.LayersModel): EpochCost {
  const layers = model.layers.slice(1).map((layer) => ({
    name: layer.name,
    type: layer.getClassName(),
    outputShape: (layer.outputShape as (number | null)[]).slice(),
    parameters: layer.countParams(),
    trainableParameters: layer.trainableWeights.reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0)
  }))
  return epochCost(layers, new Set())
}

async function calibrate(): Promise<TrainingSpeed> {
  const model = calibrationModel()
  const method = `calibrated once this session: ${STEPS} training steps of a MobileNet block and a 3x3 convolution (batch ${BATCH}, ${SHAPE.join('x')} in)`
  try {
    const threads = os.availableParallelism()
    const trainer = await NativeTrainer.create(suffixOfModel(model), { optimizer: 'adam', learningRate: 1e-3, momentum: 0 }, threads, {
      batchNorm: 'frozen',
      maxBatch: BATCH
    })
    if (typeof trainer === 'string') return { flopsPerSecond: null, engine: trainer, method }
    try {
      const features = Float32Array.from({ length: BATCH * SHAPE.reduce((a, b) => a * b) }, (_, i) => ((i * 7919) % 1000) / 500 - 1)
      const labels = Int32Array.from({ length: BATCH }, (_, i) => i % 2)
      for (let i = 0; i < WARMUP; i++) await trainer.step(features, labels)
      const seconds: number[] = []
      for (let i = 0; i < STEPS; i++) {
        const started = performance.now()
        await trainer.step(features, labels)
        seconds.push((performance.now() - started) / 1000)
      }
      // The median: one step slowed by another process should not halve the estimate.
      const median = seconds.sort((a, b) => a - b)[Math.floor(STEPS / 2)]
      return { flopsPerSecond: (modelCost(model).trainFlopsPerImage * BATCH) / median, engine: trainer.description, method }
    } finally {
      await trainer.close()
    }
  } finally {
    model.dispose()
  }
}
