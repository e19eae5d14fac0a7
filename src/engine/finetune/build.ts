// The trainable suffix as one ONNX graph holding a whole training step: forward, Keras'
// categorical cross-entropy, the backward pass and the optimizer update. Its inputs are the batch,
// the step's scalars, the weights and the optimizer state; its outputs the loss, the correct
// count, the new weights and the new state. One session.run is one optimizer step.
// A "probe" graph instead takes the output's gradient and gives the weights' and the input's
// gradients, so each layer's backward can be checked against tf.grads.
import type * as tf from '@tensorflow/tfjs'
import type { PreprocessMode } from '../../shared/protocol'
import { graphOf, type GraphNode } from '../model/graph'
import { emitPreprocess } from '../model/onnx-preprocess'
import type { ModelView, Partition } from '../train/partition'
import { emitLayer, UnsupportedTrainingLayerError, type Backward, type BatchNormMode, type Context, type Emitted, type Param, type Value } from './layers'
import type { Nchwc } from './nchwc'
import { OnnxGraph } from './onnx-graph'
import { emitUpdate, SCALARS, stateSlots, type OptimizerSettings } from './optimizer-graph'
import { foldPlans, type FoldPlan } from './batchnorm-fold'

export const FEATURES = 'features'
export const LABELS = 'labels'
export const LOSS = 'loss'
export const RIGHT = 'right'
export const OUTPUT_GRAD = 'output_grad'
export const OUTPUT = 'output'
export const INPUT_GRAD = 'input_grad'

/** The layers that train, after the frozen prefix. */
export interface SuffixSpec {
  /** Layers in call order; they read `input.name` or each other's names. */
  nodes: readonly GraphNode[]
  /** The suffix's input: the name the first layers read, and its channels-last shape without batch. */
  input: { name: string; shape: number[] }
  /**
   * When the suffix starts at the model's input: the backbone's preprocess_input, which the graphs
   * then apply themselves to RGB values 0..255. In JavaScript it took ~23 ms a batch of 32 at
   * 224x224 (about 6 % of an epoch that trains every MobileNet v1 0.25 layer), on the critical path.
   */
  preprocess?: PreprocessMode
}

/** The suffix of a partitioned model (the whole model when nothing is frozen at the start). */
export function suffixOf(view: ModelView, part: Partition, preprocess: PreprocessMode): SuffixSpec {
  const cut = part.cutLayer === null ? 0 : view.graph.findIndex((node) => node.layer.name === part.cutLayer)
  const input = { name: view.graph[cut].layer.name, shape: part.featureShape }
  return { nodes: view.graph.slice(cut + 1), input, ...(cut === 0 ? { preprocess } : {}) }
}

export interface WeightSlot {
  variable: tf.LayerVariable
  shape: number[]
  /** Graph input and output names of the weight and of each optimizer state slot. */
  input: string
  output: string
  state: { slot: string; input: string; output: string }[]
}

/** A non-trainable weight each step rewrites (BatchNormalization's moving statistics in 'batch' mode). */
export interface MovingSlot {
  variable: tf.LayerVariable
  shape: number[]
  input: string
  output: string
}

/** A dropout layer's mask input: [batch, ...shape] values of 0 or 1 / (1 - rate). */
export interface DropoutSlot {
  input: string
  shape: number[]
  rate: number
}

export interface TrainingGraph {
  bytes: Uint8Array
  weights: WeightSlot[]
  moving: MovingSlot[]
  dropouts: DropoutSlot[]
  classes: number
}

export interface GraphOptions {
  /** How trainable BatchNormalization layers normalise (default 'frozen'). */
  batchNorm?: BatchNormMode
  /** onnxruntime's blocked depthwise kernels, when this CPU has them (nchwc.ts; default: standard Convs only). */
  nchwc?: Nchwc | null
  /**
   * Fold each frozen-statistics BatchNormalization (and the ReLU after it) into the blocked
   * convolution before it (batchnorm-fold.ts; default true). False keeps every layer its own
   * nodes: the same function, rounded differently, for measuring and checking the fold.
   */
  foldBatchNorm?: boolean
}

/**
 * The training step as a graph that takes several steps a run (onnx-graph.ts encodeScan): the
 * per-step inputs (features, labels, the optimizer's scalars, dropout masks) have a leading axis,
 * one row a step, and the loss and the count of right answers come out one a step.
 */
export function buildTrainingGraph(suffix: SuffixSpec, optimizer: OptimizerSettings, options: GraphOptions = {}): TrainingGraph {
  const g = new OnnxGraph()
  const slots = stateSlots(optimizer)
  const { forward, weights, moving, dropouts } = emitForward(g, suffix, { ...options, inputGradient: false })
  const out = forward.out
  if (out.shape.length !== 1) throw new Error(`The trainable layers end in rank ${out.shape.length + 1} values; training needs [batch, classes] probabilities`)
  const last = suffix.nodes.at(-1)!.layer
  if ((last.getConfig() as { activation?: string }).activation !== 'softmax') {
    throw new UnsupportedTrainingLayerError(last, 'the model must end in a softmax (the loss is categorical cross-entropy on its logits)')
  }
  const classes = out.shape[0]
  const labels = g.input(LABELS, [null, classes])

  // Cross-entropy from the softmax's input, as Keras computes it for a softmax output (its
  // categorical_crossentropy finds the logits behind the Softmax): loss = -mean(sum(t * logsoftmax(z))),
  // dz = (p - t) / batch. tfjs-layers clips p to [1e-7, 1 - 1e-7] instead, whose gradient is zero
  // for a confidently wrong photo: a run whose first steps saturate never recovers (docs/adr/0009).
  const p = out.name
  const logits = forward.logits!
  const perRow = g.node('ReduceSum', [g.node('Mul', [labels, g.node('LogSoftmax', [logits], { axis: -1 })]), g.int64([1])], { keepdims: 0 })
  const loss = g.node('Neg', [g.node('ReduceMean', [perRow], { keepdims: 0 })], {}, 'loss')
  const batch = g.node('Cast', [g.node('Gather', [g.node('Shape', [p]), g.int64([0])])], { to: 1 })
  // A photo the model already gets right with near certainty has p - t of 1e-35 or so, and the
  // backward pass of that photo sinks into subnormal floats, which the CPU computes many times
  // slower (TensorFlow flushes them to zero on its threads; onnxruntime only on its pool threads,
  // not on the calling one). Gradients that small move no weight (Adam and RMSprop divide by
  // sqrt(v) + 1e-7, SGD multiplies by the learning rate), so they become exact zeros.
  const raw = g.node('Div', [g.node('Sub', [p, labels]), batch])
  const dz = g.node('Where', [g.node('Less', [g.node('Abs', [raw]), g.scalar(1e-20)]), g.scalar(0), raw], {}, 'dlogits')
  // The first row's largest probability wins ties, as tfjs's argMax.
  const same = g.node('Equal', [g.node('ArgMax', [p], { axis: 1, keepdims: 0 }), g.node('ArgMax', [labels], { axis: 1, keepdims: 0 })])
  const right = g.node('ReduceSum', [g.node('Cast', [same], { to: 1 }), g.int64([0])], { keepdims: 0 })

  forward.backward(dz, true)
  const scalars = Object.fromEntries(SCALARS.map((name) => [name, g.input(name, [])])) as Record<(typeof SCALARS)[number], string>
  const slotsOut: WeightSlot[] = weights.map((w, i) => {
    if (!w.grad) throw new Error(`No gradient reached ${w.variable.name}: it does not affect the output`)
    const state = slots.map((slot) => ({ slot, input: g.input(`s${i}_${slot}`, w.shape), output: `s${i}_${slot}_new` }))
    const updated = emitUpdate(
      g,
      optimizer,
      w.input,
      w.grad,
      state.map((s) => s.input),
      scalars
    )
    g.output(`w${i}_new`, updated.weight, w.shape)
    state.forEach((s, k) => g.output(s.output, updated.state[k], w.shape))
    return { variable: w.variable, shape: w.shape, input: w.input, output: `w${i}_new`, state }
  })
  g.output(LOSS, loss, [])
  g.output(RIGHT, right, [])
  const movingOut = outputMoving(g, moving)
  const bytes = g.encodeScan('training_steps', {
    perStep: [FEATURES, LABELS, ...SCALARS, ...dropouts.map((d) => d.input)],
    carried: [
      ...slotsOut.flatMap((w) => [{ input: w.input, output: w.output }, ...w.state.map((s) => ({ input: s.input, output: s.output }))]),
      ...movingOut.map((m) => ({ input: m.input, output: m.output }))
    ],
    scanned: [LOSS, RIGHT]
  })
  return { bytes, weights: slotsOut, moving: movingOut, dropouts, classes }
}

/** A graph from the suffix's input and the output's gradient to the output, the input's gradient and each weight's. */
export function buildProbeGraph(suffix: SuffixSpec, options: GraphOptions = {}) {
  // Its input gradient would be the preprocessed input's, read as the pixels'.
  if (suffix.preprocess) throw new Error('A probe graph cannot be built for a suffix that preprocesses its input: it is fed preprocessed values')
  const g = new OnnxGraph()
  const { forward, weights, moving, dropouts, toTfjs, fromTfjs } = emitForward(g, suffix, { ...options, inputGradient: true })
  const outShape = forward.out.shape
  const dy = fromTfjs(g.input(OUTPUT_GRAD, [null, ...outShape]), outShape)
  const dx = forward.backward(dy)!
  g.output(OUTPUT, toTfjs(forward.out.name, outShape), [null, ...outShape])
  g.output(INPUT_GRAD, toTfjs(dx, suffix.input.shape), [null, ...suffix.input.shape])
  const out = weights.map((w, i) => {
    if (!w.grad) throw new Error(`No gradient reached ${w.variable.name}`)
    g.output(`g${i}`, w.grad, w.shape)
    return { variable: w.variable, input: w.input, output: `g${i}` }
  })
  const movingOut = outputMoving(g, moving)
  return { bytes: g.encode('gradient_probe'), weights: out, moving: movingOut, dropouts, outputShape: outShape }
}

function outputMoving(g: OnnxGraph, moving: MovingInput[]): MovingSlot[] {
  return moving.map((m) => {
    g.output(`${m.input}_new`, m.next!, m.shape)
    return { variable: m.variable, shape: m.shape, input: m.input, output: `${m.input}_new` }
  })
}

interface MovingInput {
  variable: tf.LayerVariable
  shape: number[]
  input: string
  next: string | null
}

interface WeightInput {
  variable: tf.LayerVariable
  shape: number[]
  input: string
  grad: string | null
}

/**
 * The forward pass over the suffix; `backward(dOutput)` then writes every layer's backward in
 * reverse order, summing the gradients of values read by several layers, and returns the input's
 * gradient when `inputGradient` asked for it.
 */
function emitForward(g: OnnxGraph, suffix: SuffixSpec, options: GraphOptions & { inputGradient: boolean; scoring?: ScoringOptions }) {
  const { inputGradient, scoring } = options
  const batchNorm = options.batchNorm ?? 'frozen'
  const nchwc = options.nchwc ?? null
  const weights: WeightInput[] = []
  const moving: MovingInput[] = []
  const dropouts: DropoutSlot[] = []
  const layout = (rank: number) => rank === 3
  const toTfjs = (v: string, shape: number[]) => (layout(shape.length) ? g.node('Transpose', [v], { perm: [0, 2, 3, 1] }) : v)
  const fromTfjs = (v: string, shape: number[]) => (layout(shape.length) ? g.node('Transpose', [v], { perm: [0, 3, 1, 2] }) : v)

  const features = g.input(FEATURES, [null, ...suffix.input.shape])
  const channelsLast = new Map<string, string>()
  // The layers folded into the convolution before them (batchnorm-fold.ts): only normalisations
  // with moving statistics, which a training graph's are unless they train in batch mode.
  const keep = new Set(scoring?.keep === undefined ? [] : [scoring.keep])
  const movingStatistics = (norm: tf.layers.Layer) => scoring !== undefined || batchNorm === 'frozen' || !norm.trainable
  const folds = (options.foldBatchNorm ?? true) ? foldPlans(suffix.nodes, keep, movingStatistics) : new Map<string, FoldPlan>()
  const absorbed = new Set<string>()
  const ctx: Context = {
    g,
    channelsLast: (name) => channelsLast.get(name),
    batchNorm,
    nchwc,
    training: !scoring,
    blocked: new Map<string, string>(),
    fold(layer) {
      const plan = folds.get(layer.name)
      for (const name of plan?.absorbed ?? []) absorbed.add(name)
      return plan
    },
    dropoutMask(_layer, shape, rate) {
      const input = g.input(`dropout_mask_${dropouts.length}`, [null, ...shape])
      dropouts.push({ input, shape, rate })
      return input
    },
    updated(layer, name) {
      const found = layer.weights.find((w) => w.originalName.split('/').at(-1) === name)
      if (!found) throw new UnsupportedTrainingLayerError(layer, `has no ${name}`)
      const entry: MovingInput = { variable: found, shape: found.shape as number[], input: g.input(`b${moving.length}`, found.shape), next: null }
      moving.push(entry)
      return { value: entry.input, setNew: (value) => void (entry.next = value) }
    },
    param(layer, name): Param | null {
      const found = layer.weights.find((w) => w.originalName.split('/').at(-1) === name)
      if (!found) return null
      const trainable = layer.trainableWeights.includes(found)
      const fed = scoring?.inputs.get(found)
      if (fed) return { value: g.input(fed, found.shape as number[]), shape: found.shape as number[] }
      if (scoring && trainable) throw new Error(`The scoring graph was not given an input for ${found.name}`)
      if (!trainable) {
        const value = found.read()
        return { value: g.float(value.dataSync() as Float32Array, value.shape), shape: value.shape }
      }
      const entry: WeightInput = { variable: found, shape: found.shape as number[], input: g.input(`w${weights.length}`, found.shape), grad: null }
      weights.push(entry)
      return { value: entry.input, shape: entry.shape, setGrad: (grad) => void (entry.grad = grad) }
    }
  }

  const prepared = suffix.preprocess ? emitPreprocess(g, features, suffix.preprocess, 3) : features
  const input: Value = { name: fromTfjs(prepared, suffix.input.shape), shape: suffix.input.shape }
  if (input.name !== prepared) channelsLast.set(input.name, prepared)
  const values = new Map<string, Value>([[suffix.input.name, input]])
  const steps: { inputs: string[]; backward: Backward; output: string; logits?: Emitted['logits'] }[] = []
  for (const { layer, inputs } of suffix.nodes) {
    const args = inputs.map((name) => {
      const value = values.get(name)
      if (!value) throw new Error(`Layer ${layer.name} reads ${name}, which is not among the trainable layers or their input`)
      return value
    })
    if (absorbed.has(layer.name)) {
      values.set(layer.name, args[0])
      steps.push({ inputs, backward: (dy) => [dy], output: layer.name })
      continue
    }
    const emitted = emitLayer(ctx, layer, args)
    values.set(layer.name, emitted.out)
    steps.push({ inputs, backward: emitted.backward, output: layer.name, logits: emitted.logits })
  }
  const outputName = suffix.nodes.at(-1)!.layer.name
  // In the model's order, however the layers were emitted (a fold makes the normalisation's weights
  // with the convolution's, before a shortcut's kernel in between): the optimizer state is saved
  // and handed between engines in this order (runner.ts optimizerWeights).
  const order = new Map(suffix.nodes.flatMap(({ layer }) => layer.weights).map((w, i) => [w, i] as const))
  weights.sort((a, b) => order.get(a.variable)! - order.get(b.variable)!)

  // Which values need a gradient: those that trainable weights or (probe) the input flow into.
  const needs = new Set<string>()
  if (inputGradient) needs.add(suffix.input.name)
  const owners = new Map<string, boolean>() // layer name → has trainable weights
  for (const { layer } of suffix.nodes) owners.set(layer.name, layer.trainableWeights.length > 0)
  for (const step of steps) {
    if (owners.get(step.output) || step.inputs.some((name) => needs.has(name))) needs.add(step.output)
  }

  const last = steps.at(-1)!
  /** From the output's gradient, or (fromLogits) from the gradient of the final softmax's input. */
  const backward = (dOutput: string, fromLogits = false): string | null => {
    if (fromLogits && !last.logits) throw new Error(`The trainable layers do not end in a softmax`)
    const grads = new Map<string, string[]>([[outputName, [dOutput]]])
    for (const step of [...steps].reverse()) {
      const parts = grads.get(step.output)
      if (!parts || !needs.has(step.output)) continue
      const dy = parts.reduce((sum, part) => g.node('Add', [sum, part]))
      const dxs = (fromLogits && step === last ? last.logits!.backward : step.backward)(
        dy,
        step.inputs.map((name) => needs.has(name))
      )
      dxs.forEach((dx, i) => {
        if (dx === null) return
        const list = grads.get(step.inputs[i]) ?? []
        list.push(dx)
        grads.set(step.inputs[i], list)
      })
    }
    const atInput = grads.get(suffix.input.name)
    return atInput ? atInput.reduce((sum, part) => g.node('Add', [sum, part])) : null
  }
  return { forward: { out: values.get(outputName)!, logits: last.logits?.name ?? null, backward }, values, weights, moving, dropouts, toTfjs, fromTfjs }
}

interface ScoringOptions {
  /** The graph input each value training changes (its weights, moving statistics) is fed as. */
  inputs: ReadonlyMap<tf.LayerVariable, string>
  /** The layer whose output the graph gives, when not the last one's: never folded into another. */
  keep?: string
}

export const SCORES = 'scores'

/**
 * The suffix's forward pass in inference mode (moving statistics, no dropout), fed the training
 * step's current weights each run, on the training graph's blocked kernels: the validation set is
 * scored without copying them into tfjs first, by one session for the whole run. A graph with the
 * weights as constants, made again each epoch, let onnxruntime fold the BatchNorms and pack the
 * kernels (runs of 1.8 against 2.8 ms for a batch of (a) of bench/finetune.ts), but every new
 * session wrote its activations into memory the process had not touched, and first writes cost
 * page faults: 1,000-3,000 a validation in (a) (10-20 ms of 20-55), 31,000 in (b), and ~4 ms (a)
 * to 0.7 s (c) of making the session (docs/adr/0005). Its output is the suffix's (class
 * probabilities), or the named layer's (the pooled features the unsure rule measures).
 */
export function buildScoringGraph(suffix: SuffixSpec, inputs: ReadonlyMap<tf.LayerVariable, string>, nchwc: Nchwc | null, layer?: string) {
  const g = new OnnxGraph()
  const { forward, values } = emitForward(g, suffix, { nchwc, inputGradient: false, scoring: { inputs, keep: layer } })
  const out = layer === undefined ? forward.out : values.get(layer)
  if (!out) throw new Error(`${layer} is not among the trainable layers`)
  if (out.shape.length !== 1) throw new Error(`${layer ?? 'The trainable layers'} end in rank ${out.shape.length + 1} values, not [batch, width]`)
  g.output(SCORES, out.name, [null, out.shape[0]])
  return g.encode('scoring')
}

/** The whole of a standalone model as a suffix (its first layer the input). */
export function suffixOfModel(model: tf.LayersModel): SuffixSpec {
  const nodes = graphOf(model)
  return { nodes: nodes.slice(1), input: { name: nodes[0].layer.name, shape: model.inputs[0].shape.slice(1) as number[] } }
}
