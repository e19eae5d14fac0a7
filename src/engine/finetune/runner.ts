// Runs the training-step graph on onnxruntime-node: one session.run takes the steps of one or more
// batches. The weights and optimizer state live in two sets of float32 buffers that the graph reads
// from one and writes into the other (pre-allocated outputs), swapped each run: only the run's
// small inputs (labels, scalars, dropout masks) are allocated on our side. getWeights()/writeBack()
// hand the weights to the tfjs model, which stays the saved form.
import * as tf from '@tensorflow/tfjs'
import type { InferenceSession, Tensor } from 'onnxruntime-node'
import { loadOnnxRuntime, onnxDescription, type Ort } from '../onnx-runtime'
import { buildScoringGraph, buildTrainingGraph, FEATURES, LABELS, LOSS, RIGHT, SCORES, type SuffixSpec, type TrainingGraph } from './build'
import type { BatchNormMode } from './layers'
import { describeNchwc, probeNchwc, type Nchwc } from './nchwc'
import { SCALARS, stepScalars, type OptimizerSettings } from './optimizer-graph'
import { seededRandom } from '../util/random'

export interface NativeStepResult {
  loss: number
  right: number
}

export interface RunnerOptions {
  /**
   * Write the outputs into our own pre-allocated buffers (default). Off, onnxruntime allocates
   * them every step; kept for the benchmark that compares the two.
   */
  preallocate?: boolean
  /** How trainable BatchNormalization layers normalise (default 'frozen', Keras' fine-tuning advice). */
  batchNorm?: BatchNormMode
  /** Seeds the dropout masks (with the step number: a resumed run draws what an unbroken one would). */
  seed?: number
  /**
   * The largest batch step() gets (the run's batch size). With it, depthwise kernel gradients run
   * on onnxruntime's blocked kernels where this CPU has them (nchwc.ts); larger batches are refused.
   */
  maxBatch?: number
  /** Fold frozen-statistics BatchNorms into their convolutions (build.ts GraphOptions; default true). */
  foldBatchNorm?: boolean
}

/** Dropout layer k's mask at optimizer step `iteration`: a function of the seed and those two alone. */
export function dropoutMask(seed: number, iteration: number, k: number, size: number, rate: number): Float32Array {
  const random = seededRandom((seed ^ Math.imul(iteration + 1, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0)
  const keep = 1 / (1 - rate)
  return Float32Array.from({ length: size }, () => (random() < rate ? 0 : keep))
}

export interface NativeBatch {
  /** Channels-last features (RGB values 0..255 when takesPixels), `labels.length` rows. */
  features: Float32Array
  labels: Int32Array
}

interface Buffers {
  weights: Float32Array[]
  state: Float32Array[][]
  moving: Float32Array[]
}

export class NativeTrainer {
  private current: Buffers
  private spare: Buffers
  private iteration = 0
  private lr: number
  /** The batches of a run, one after another (grown to the most batches one steps() call was given). */
  private stacked = new Float32Array(0)
  /** Scoring sessions by the layer they output ('' for the probabilities), opened when first asked for. */
  private readonly scoring = new Map<string, Promise<InferenceSession>>()

  private constructor(
    private readonly runtime: Ort,
    private readonly session: InferenceSession,
    private readonly graph: TrainingGraph,
    private readonly settings: OptimizerSettings,
    private readonly featureShape: number[],
    readonly description: string,
    private readonly preallocate: boolean,
    private readonly suffix: SuffixSpec,
    private readonly threads: number,
    private readonly seed: number,
    private readonly nchwc: Nchwc | null
  ) {
    this.lr = settings.learningRate
    const fresh = (): Buffers => ({
      weights: graph.weights.map((w) => new Float32Array(size(w.shape))),
      state: graph.weights.map((w) => w.state.map(() => new Float32Array(size(w.shape)))),
      moving: graph.moving.map((m) => new Float32Array(size(m.shape)))
    })
    this.current = fresh()
    this.spare = fresh()
    this.readFromModel()
  }

  /** Takes the weights (and moving statistics) from the tfjs model: at the start, and after a run restores its best epoch there. */
  readFromModel(): void {
    this.graph.weights.forEach((w, i) => this.current.weights[i].set(w.variable.read().dataSync() as Float32Array))
    this.graph.moving.forEach((m, j) => this.current.moving[j].set(m.variable.read().dataSync() as Float32Array))
  }

  /**
   * Throws UnsupportedTrainingLayerError (naming the layer and its class) when a layer has no
   * native gradient; the caller then trains with tfjs. Returns the reason when onnxruntime is unavailable.
   */
  static async create(suffix: SuffixSpec, settings: OptimizerSettings, threads: number, options: RunnerOptions = {}): Promise<NativeTrainer | string> {
    const runtime = await loadOnnxRuntime()
    if (typeof runtime === 'string') return runtime
    const found = await probeNchwc(runtime)
    const nchwc = 'block' in found ? { block: found.block, maxBatch: options.maxBatch } : null
    const graph = buildTrainingGraph(suffix, settings, { batchNorm: options.batchNorm, nchwc, foldBatchNorm: options.foldBatchNorm })
    const session = await runtime.InferenceSession.create(graph.bytes, sessionOptions(threads, 'training'))
    // onnxruntime ignores a fetch it does not know: a name the graph lacks would leave a buffer silently unwritten.
    const outputs = new Set(session.outputNames)
    const missing = [LOSS, RIGHT, ...graph.weights.flatMap((w) => [w.output, ...w.state.map((st) => st.output)]), ...graph.moving.map((m) => m.output)].filter(
      (n) => !outputs.has(n)
    )
    if (missing.length > 0) throw new Error(`The training graph lacks outputs ${missing.join(', ')}`)
    const description = `${onnxDescription(runtime, threads)}${describeNchwc(found)}, native training step`
    return new NativeTrainer(
      runtime,
      session,
      graph,
      settings,
      suffix.input.shape,
      description,
      options.preallocate ?? true,
      suffix,
      threads,
      options.seed ?? 0,
      nchwc
    )
  }

  get classes(): number {
    return this.graph.classes
  }

  /** Whether its graphs apply the backbone's preprocess_input: they are then fed RGB values 0..255. */
  get takesPixels(): boolean {
    return this.suffix.preprocess !== undefined
  }

  /** The number of optimizer steps taken (tfjs's optimizer.iterations). */
  get iterations(): number {
    return this.iteration
  }

  setLearningRate(lr: number): void {
    this.lr = lr
  }

  /** One optimizer step on a batch of channels-last features (`labels.length` rows); as trainStep(). */
  async step(features: Float32Array, labels: Int32Array): Promise<NativeStepResult> {
    return (await this.steps([{ features, labels }]))[0]
  }

  /**
   * One optimizer step a batch, in order, as step() on each. Consecutive batches of one size go
   * through the graph in one run (it scans them, build.ts): its outputs, which onnxruntime-node
   * copies into fresh buffers every run, are then copied once for all of them. The buffer that
   * stacks a run's batches is sized for all the batches of the call: the training loop's groups
   * include an epoch's short last batch, one more than the epoch's longest run.
   */
  async steps(batches: readonly NativeBatch[]): Promise<NativeStepResult[]> {
    const results: NativeStepResult[] = []
    for (let start = 0; start < batches.length; ) {
      let end = start + 1
      while (end < batches.length && batches[end].labels.length === batches[start].labels.length) end++
      results.push(...(await this.run(batches.slice(start, end), batches.length)))
      start = end
    }
    return results
  }

  private async run(batches: readonly NativeBatch[], room: number): Promise<NativeStepResult[]> {
    const steps = batches.length
    const count = batches[0].labels.length
    const rowSize = count * size(this.featureShape)
    if (this.nchwc?.maxBatch !== undefined && count > this.nchwc.maxBatch)
      throw new Error(`A batch of ${count} is larger than the ${this.nchwc.maxBatch} this training step was built for`)
    for (const { features } of batches) {
      if (features.length !== rowSize) throw new Error(`A batch of ${count} needs ${rowSize} feature values, got ${features.length}`)
    }
    const { Tensor } = this.runtime
    const classes = this.graph.classes
    let features = batches[0].features
    if (steps > 1) {
      if (this.stacked.length < steps * rowSize) {
        // Memory the process never wrote costs a page fault a page on its first write (0.1 s for
        // 22 MB on the machine measured): written through once, as large as later runs need,
        // rather than grown a little in the middle of a later epoch.
        this.stacked = new Float32Array(Math.max(steps, room) * rowSize).fill(0)
      }
      features = this.stacked.subarray(0, steps * rowSize)
      batches.forEach((b, k) => features.set(b.features, k * rowSize))
    }
    const oneHot = new Float32Array(steps * count * classes)
    batches.forEach((b, k) => b.labels.forEach((label, row) => (oneHot[(k * count + row) * classes + label] = 1)))
    const feeds: Record<string, Tensor> = {
      [FEATURES]: new Tensor('float32', features, [steps, count, ...this.featureShape]),
      [LABELS]: new Tensor('float32', oneHot, [steps, count, classes])
    }
    const scalars = Array.from({ length: steps }, (_, k) => stepScalars(this.settings, this.lr, this.iteration + k))
    for (const name of SCALARS) feeds[name] = new Tensor('float32', Float32Array.from(scalars, (s) => s[name]), [steps])
    this.graph.dropouts.forEach((d, j) => {
      const length = count * size(d.shape)
      const masks = new Float32Array(steps * length)
      for (let k = 0; k < steps; k++) masks.set(dropoutMask(this.seed, this.iteration + k, j, length, d.rate), k * length)
      feeds[d.input] = new Tensor('float32', masks, [steps, count, ...d.shape])
    })
    const loss = new Float32Array(steps)
    const right = new Float32Array(steps)
    const fetches: Record<string, Tensor> = {
      [LOSS]: new Tensor('float32', loss, [steps]),
      [RIGHT]: new Tensor('float32', right, [steps])
    }
    this.graph.weights.forEach((w, i) => {
      feeds[w.input] = new Tensor('float32', this.current.weights[i], w.shape)
      fetches[w.output] = new Tensor('float32', this.spare.weights[i], w.shape)
      w.state.forEach((s, k) => {
        feeds[s.input] = new Tensor('float32', this.current.state[i][k], w.shape)
        fetches[s.output] = new Tensor('float32', this.spare.state[i][k], w.shape)
      })
    })
    this.graph.moving.forEach((m, j) => {
      feeds[m.input] = new Tensor('float32', this.current.moving[j], m.shape)
      fetches[m.output] = new Tensor('float32', this.spare.moving[j], m.shape)
    })
    if (this.preallocate) {
      await this.session.run(feeds, fetches)
    } else {
      // onnxruntime allocates the outputs and hands them over: adopt them as the next run's inputs.
      const out = await this.session.run(feeds)
      loss.set(out[LOSS].data as Float32Array)
      right.set(out[RIGHT].data as Float32Array)
      this.graph.weights.forEach((w, i) => {
        this.spare.weights[i] = out[w.output].data as Float32Array
        w.state.forEach((s, k) => (this.spare.state[i][k] = out[s.output].data as Float32Array))
      })
      this.graph.moving.forEach((m, j) => (this.spare.moving[j] = out[m.output].data as Float32Array))
    }
    ;[this.current, this.spare] = [this.spare, this.current]
    this.iteration += steps
    return Array.from(loss, (value, k) => ({ loss: value, right: Math.round(right[k]) }))
  }

  /**
   * Class probabilities of a batch of channels-last features with the current weights, in inference
   * mode (moving statistics, no dropout), as the tfjs model would give them after writeBack(): the
   * validation set is scored on native kernels instead of tfjs cpu (which took ~30 s an epoch of
   * MobileNet's last two blocks on 156 photos, against ~4 s of training). With `layer`, that
   * layer's output instead (rank 1 a row: the pooled features). Each kind of output has one session
   * for the trainer's life, fed the weights of the moment (build.ts buildScoringGraph).
   */
  async predict(features: Float32Array, count: number, layer?: string): Promise<Float32Array> {
    if (features.length !== count * size(this.featureShape))
      throw new Error(`A batch of ${count} needs ${count * size(this.featureShape)} feature values, got ${features.length}`)
    const key = layer ?? ''
    if (!this.scoring.has(key)) this.scoring.set(key, this.openScoring(layer))
    const session = await this.scoring.get(key)!
    const { Tensor } = this.runtime
    const feeds: Record<string, Tensor> = { [FEATURES]: new Tensor('float32', features, [count, ...this.featureShape]) }
    this.graph.weights.forEach((w, i) => (feeds[scoringInput('w', i)] = new Tensor('float32', this.current.weights[i], w.shape)))
    this.graph.moving.forEach((m, j) => (feeds[scoringInput('m', j)] = new Tensor('float32', this.current.moving[j], m.shape)))
    const out = await session.run(feeds)
    return out[SCORES].data as Float32Array
  }

  private async openScoring(layer?: string): Promise<InferenceSession> {
    const inputs = new Map<tf.LayerVariable, string>([
      ...this.graph.weights.map((w, i) => [w.variable, scoringInput('w', i)] as const),
      ...this.graph.moving.map((m, j) => [m.variable, scoringInput('m', j)] as const)
    ])
    return this.runtime.InferenceSession.create(buildScoringGraph(this.suffix, inputs, this.nchwc, layer), sessionOptions(this.threads, 'scoring'))
  }

  private async releaseScoring(): Promise<void> {
    const opened = [...this.scoring.values()]
    this.scoring.clear()
    for (const session of opened) await (await session).release()
  }

  /** The current weights, each with the tfjs variable it belongs to (copies: ours keep changing). */
  getWeights(): { variable: tf.LayerVariable; values: Float32Array }[] {
    return this.graph.weights.map((w, i) => ({ variable: w.variable, values: this.current.weights[i].slice() }))
  }

  /** Writes the current weights (and moving statistics) into the tfjs model, so it can be evaluated or saved as usual. */
  writeBack(): void {
    const moving = this.graph.moving.map((m, j) => ({ variable: m.variable, values: this.current.moving[j] }))
    for (const { variable, values } of [...this.getWeights(), ...moving]) {
      const value = tf.tensor(values, variable.shape as number[])
      variable.write(value)
      value.dispose()
    }
  }

  /**
   * The optimizer state as tf.Optimizer.getWeights() lists it (the iteration count, then each slot
   * of every weight, slot by slot, under tfjs's names), so run-state.ts saves it unchanged. The
   * slots' tensors are views of the state buffers, not copies (120 MB an epoch for ResNet50's
   * conv5): they hold this moment's values until the next step.
   */
  optimizerWeights(): { name: string; tensor: tf.Tensor }[] {
    const list = [{ name: 'iter', tensor: tf.scalar(this.iteration, 'int32') }]
    const slots = this.graph.weights[0]?.state.map((s) => s.slot) ?? []
    slots.forEach((slot, k) => {
      this.graph.weights.forEach((w, i) => list.push({ name: `${w.variable.name}/${slot}`, tensor: tf.tensor(this.current.state[i][k], w.shape) }))
    })
    return list
  }

  /** Continues from a saved state (optimizerWeights()' or a tfjs optimizer's of the same kind). */
  setOptimizerWeights(list: readonly { name: string; tensor: tf.Tensor }[]): void {
    const slots = this.graph.weights[0]?.state.map((s) => s.slot) ?? []
    const expected = 1 + slots.length * this.graph.weights.length
    if (list.length !== expected) throw new Error(`The saved optimizer state has ${list.length} tensors; this optimizer needs ${expected}`)
    this.iteration = list[0].tensor.dataSync()[0]
    slots.forEach((slot, k) => {
      this.graph.weights.forEach((w, i) => {
        const { name, tensor } = list[1 + k * this.graph.weights.length + i]
        if (tensor.size !== this.current.state[i][k].length || !name.endsWith(`/${slot}`)) {
          throw new Error(`Saved optimizer tensor ${name} (${tensor.shape.join('x')}) does not fit ${w.variable.name}/${slot} (${w.shape.join('x')})`)
        }
        this.current.state[i][k].set(tensor.dataSync() as Float32Array)
      })
    })
  }

  async close(): Promise<void> {
    await this.releaseScoring()
    await this.session.release()
  }
}

/**
 * Subnormal floats flushed to zero, as TensorFlow does on its threads: arithmetic on them is many
 * times slower. onnxruntime applies this to its pool threads only, not to the thread that calls
 * run(), so the training graph also floors the tiny gradients where they start (build.ts).
 *
 * The scoring sessions' threads do not spin-wait for more work after a run: they would hold the
 * cores while the training step (its own thread pool) runs next, and that pool's spinning slows
 * the validation batches in turn. Measured on (a) of bench/finetune.ts, 8 steps then 5 validation
 * batches, alternating processes: 115-127 ms of steps and 21-30 ms of scoring with every pool
 * spinning, 94-103 and 15-16 ms without the scoring pool's; ResNet50's conv5 (c) unchanged.
 */
export function sessionOptions(threads: number, use: 'training' | 'scoring'): InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { set_denormal_as_zero: '1', ...(use === 'scoring' ? { 'intra_op.allow_spinning': '0' } : {}) } }
  }
}

/** A scoring graph's input for the training graph's weight (`w`) or moving statistic (`m`) number `index`. */
function scoringInput(kind: 'w' | 'm', index: number): string {
  return `score_${kind}${index}`
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}
