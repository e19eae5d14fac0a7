// Which engine trains the unfrozen layers. tfjs's `cpu` backend is the only one here with every
// convolution gradient, and it is pure JavaScript: unfrozen convolutions train hundreds of times
// slower than on native kernels. When they are what trains, the whole step (forward, backward,
// optimizer) runs as one onnxruntime graph instead (finetune/), and the tfjs model is brought up
// to date only when something reads it. A head of Dense layers alone trains fast enough on tfjs.
import os from 'node:os'
import * as tf from '@tensorflow/tfjs'
import type { TrainConfig } from '../../shared/protocol'
import { suffixOf } from '../finetune/build'
import { NativeTrainer } from '../finetune/runner'
import type { TransferModel } from '../model/build'
import { makeOptimizer } from './optimizer'
import type { Partition } from './partition'
import { TfjsStep, type NamedTensor, type StepBatch, type TrainingStep } from './step'

export type StepKind = 'tfjs' | 'native'
const STEP_KINDS: readonly StepKind[] = ['tfjs', 'native']
export const STEP_ENV = 'TRANSFER_STUDIO_TRAIN_STEP'

const CONVOLUTIONS = new Set(['Conv2D', 'DepthwiseConv2D'])

/**
 * A run of several batches pays onnxruntime-node's copy of the weights and optimizer state once
 * (runner.ts steps()), but progress and the stop button wait for it: runs are kept to about this
 * long, from the last run's time a step.
 */
const RUN_BUDGET_MS = 3000
const MAX_BATCHES_PER_RUN = 16

/** The onnxruntime training-step graph behind the TrainingStep seam. */
export class NativeStep implements TrainingStep {
  /** The last run's milliseconds a step (the first run takes one batch and measures). */
  private msPerStep = Infinity

  constructor(private readonly trainer: NativeTrainer) {}

  get batchesPerRun(): number {
    return Math.max(1, Math.min(MAX_BATCHES_PER_RUN, Math.floor(RUN_BUDGET_MS / this.msPerStep)))
  }

  get description(): string {
    return this.trainer.description
  }

  get takesPixels(): boolean {
    return this.trainer.takesPixels
  }

  async run(x: tf.Tensor, labels: Int32Array): Promise<{ loss: number; right: number }> {
    return (await this.runMany([{ x, labels }]))[0]
  }

  async runMany(batches: readonly StepBatch[]): Promise<{ loss: number; right: number }[]> {
    const started = performance.now()
    const given = batches.map(({ x, labels }) => ({ features: x.dataSync() as Float32Array, labels }))
    const results = await this.trainer.steps(given)
    this.msPerStep = (performance.now() - started) / batches.length
    return results
  }

  setLearningRate(lr: number): void {
    this.trainer.setLearningRate(lr)
  }

  sync(): void {
    this.trainer.writeBack()
  }

  reload(): void {
    this.trainer.readFromModel()
  }

  readonly predict = async (x: tf.Tensor): Promise<tf.Tensor> => {
    const count = x.shape[0]
    const probabilities = await this.trainer.predict(x.dataSync() as Float32Array, count)
    return tf.tensor(probabilities, [count, this.trainer.classes])
  }

  readonly layerOutput = async (x: tf.Tensor, layer: string): Promise<tf.Tensor> => {
    const count = x.shape[0]
    const values = await this.trainer.predict(x.dataSync() as Float32Array, count, layer)
    return tf.tensor(values, [count, values.length / count])
  }

  optimizerWeights(): Promise<NamedTensor[]> {
    return Promise.resolve(this.trainer.optimizerWeights())
  }

  setOptimizerWeights(list: readonly NamedTensor[]): Promise<void> {
    this.trainer.setOptimizerWeights(list)
    return Promise.resolve()
  }

  close(): Promise<void> {
    return this.trainer.close()
  }
}

export interface StepChoice {
  step: TrainingStep
  /** Why this engine, for the notice. */
  reason: string
}

export interface StepOptions {
  /** The tfjs backend gradients would run on ('cpu', 'tensorflow', ...). */
  trainingBackend: string
  classCount: number
  /** Forces one engine (default: the TRANSFER_STUDIO_TRAIN_STEP variable, else chosen). */
  only?: StepKind
  threads?: number
}

/**
 * Makes the step for the model's trainable suffix, which must already hold the weights to start
 * from (the native step copies them). Forced 'native' fails loudly rather than falling back.
 */
export async function chooseTrainingStep(tm: TransferModel, part: Partition, config: TrainConfig, options: StepOptions): Promise<StepChoice> {
  const only = options.only ?? forcedKind()
  const tfjs = (reason: string): StepChoice => ({
    step: new TfjsStep(part, makeOptimizer(config), options.classCount, options.trainingBackend),
    reason
  })
  if (only === 'tfjs') return tfjs(`${STEP_ENV}=tfjs`)
  const suffix = suffixOf(tm, part, tm.backbone.preprocess)
  if (only !== 'native') {
    if (options.trainingBackend !== 'cpu') return tfjs(`the ${options.trainingBackend} backend has native gradients`)
    if (!suffix.nodes.some((node) => CONVOLUTIONS.has(node.layer.getClassName())))
      return tfjs('no convolution is unfrozen, and tfjs trains the rest fast enough')
  }
  let made: NativeTrainer | string
  try {
    made = await NativeTrainer.create(suffix, config, options.threads ?? os.availableParallelism(), {
      batchNorm: config.batchNormStatistics === 'train' ? 'batch' : 'frozen',
      seed: config.seed,
      maxBatch: config.batchSize
    })
  } catch (error) {
    made = (error as Error).message
  }
  if (typeof made === 'string') {
    if (only === 'native') throw new Error(`${STEP_ENV}=native, but the native training step cannot be made: ${made}`)
    return tfjs(`the native training step cannot be made (${made})`)
  }
  const reason = only === 'native' ? `${STEP_ENV}=native` : 'unfrozen convolutions train on native kernels instead of tfjs cpu'
  return { step: new NativeStep(made), reason }
}

/**
 * Which engine trains unfrozen layers here, for `info` and the app: `training` is the tfjs backend
 * that computes gradients, `native` the onnxruntime description (or why it cannot load).
 */
export function describeUnfrozenEngine(training: string, native: { description: string } | { unavailable: string }): string {
  const forced = process.env[STEP_ENV]
  const tfjs = `TensorFlow.js ${training} backend`
  if (forced === 'tfjs') return `${tfjs} (${STEP_ENV}=tfjs)`
  if ('unavailable' in native) return `${tfjs} (the native training step cannot run: ${native.unavailable})`
  const step = `native training step on ${native.description}`
  if (forced === 'native') return `${step} (${STEP_ENV}=native)`
  if (training !== 'cpu') return `${tfjs} (it has native gradients)`
  return `${step} when a convolution is unfrozen; ${tfjs} for Dense layers alone`
}

function forcedKind(): StepKind | undefined {
  const value = process.env[STEP_ENV]
  if (value === undefined || value === '') return undefined
  if (!STEP_KINDS.includes(value as StepKind)) throw new Error(`${STEP_ENV} must be ${STEP_KINDS.join(' or ')}, not ${value}`)
  return value as StepKind
}
