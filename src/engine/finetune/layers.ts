// Forward and backward of each Keras layer kind as standard ONNX operators, channels-first inside
// (ONNX's only layout for Conv). onnxruntime's own training build has gradient operators
// (ConvGrad, ReluGrad, ...) but they live in its training-only "com.microsoft" domain, which the
// onnxruntime-node package does not ship; so each gradient is spelled out here:
// - convolution input gradient: at stride 1 a Conv with the kernel flipped, its channels swapped
//   and the padding mirrored; at larger strides a ConvTranspose with the same kernel and pads;
// - Conv2D kernel gradient: one Gemm per kernel tap over all pixels of the batch (a 1x1 kernel has
//   one tap: strided ones read every stride-th pixel, cut out first; a strided larger kernel's taps
//   are cut from the input split into its stride phases);
// - DepthwiseConv2D kernel gradient: a grouped Conv over the input with batch and channels swapped,
//   the output gradient as kernel, strides = the layer's dilation and dilation = its stride; where
//   this CPU has onnxruntime's blocked kernels, a depthwise Conv over batch x channels planes
//   instead (nchwc.ts);
// - where this CPU has those blocked kernels, every convolution's forward and stride-1 input
//   gradient run on them (channels in whole blocks);
// - frozen-statistics BatchNormalization: a per-channel affine map (onnxruntime's own
//   BatchNormalization forward), so its gradients are products and sums (gamma's from the sums of
//   dy * x and of dy, without normalising x again);
// - activations: the incoming gradient times a 0/1 mask of where tfjs's own gradient passes.
// Every weight enters and leaves in tfjs's layout, so the optimizer state matches tfjs's too.
import type * as tf from '@tensorflow/tfjs'
import { pads as tfPads } from '../model/onnx-export'
import { blockedConv, blockedDepthwiseConv, blockedDepthwiseKernelGradient, NCHWC_DOMAIN, toBlocked, type Nchwc } from './nchwc'
import type { FoldPlan } from './batchnorm-fold'
import type { OnnxGraph } from './onnx-graph'

export class UnsupportedTrainingLayerError extends Error {
  constructor(layer: tf.layers.Layer, why: string) {
    super(`layer ${layer.name} (${layer.getClassName()}) cannot train on the native graph: ${why}`)
  }
}

/** A value inside the graph: rank 4 values are NCHW; `shape` is the channels-last shape without batch. */
export interface Value {
  name: string
  shape: number[]
}

/** A layer weight as the graph sees it: a graph input when it trains, a constant otherwise. */
export interface Param {
  value: string
  shape: number[]
  /** Records the gradient (tfjs layout) of a trainable weight; absent for frozen ones. */
  setGrad?: (grad: string) => void
}

/**
 * How a BatchNormalization layer that trains normalises: 'frozen' with its moving statistics
 * (Keras' inference mode, the fine-tuning guides' advice), 'batch' with the batch's own statistics,
 * updating the moving ones (tfjs's training mode, what trainStep() does today). Frozen layers
 * always use their moving statistics (batchnorm.ts).
 */
export type BatchNormMode = 'frozen' | 'batch'

export interface Context {
  g: OnnxGraph
  batchNorm: BatchNormMode
  /** False in a forward-only (scoring) graph: dropout passes everything through. */
  training: boolean
  /** onnxruntime's blocked convolution kernels on this CPU (nchwc.ts), or null for standard Convs only. */
  nchwc: Nchwc | null
  /**
   * The same value channels-last, where the graph has it (its input, as tfjs hands it over): a
   * layer that can read it directly leaves the Transpose to channels-first unused (and dropped).
   */
  channelsLast(name: string): string | undefined
  /** The layer's weight by its Keras short name (`kernel`, `gamma`), or null when it has none. */
  param(layer: tf.layers.Layer, name: string): Param | null
  /** A dropout mask fed each step (0 or 1 / (1 - rate) per value, drawn from the run's seed), shaped as the graph's value. */
  dropoutMask(layer: tf.layers.Layer, shape: number[], rate: number): string
  /** A non-trainable weight the step updates (moving statistics): its graph input, and where its new value goes. */
  updated(layer: tf.layers.Layer, name: string): { value: string; setNew: (value: string) => void }
  /**
   * The BatchNormalization (and ReLU) a blocked convolution computes as well (batchnorm-fold.ts).
   * Asking takes the fold: those layers then pass the convolution's output on, and their gradients
   * are the convolution's to write.
   */
  fold?(layer: tf.layers.Layer): FoldPlan | undefined
  /** Values a folded convolution also left in the blocked layout, by their NCHW name. */
  blocked?: Map<string, string>
}

/** What a layer's backward gives back: the gradient of each input (null where nobody needs it). */
export type Backward = (dy: string, needed: boolean[]) => (string | null)[]

export interface Emitted {
  out: Value
  backward: Backward
  /**
   * When the output is a softmax: its input (the logits) and the backward from the logits'
   * gradient, which the loss computes directly as Keras does (see build.ts).
   */
  logits?: { name: string; backward: Backward }
}

type Config = Record<string, unknown>

export function emitLayer(ctx: Context, layer: tf.layers.Layer, args: Value[]): Emitted {
  const config = layer.getConfig() as Config
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast')
    throw new UnsupportedTrainingLayerError(layer, `data format ${String(config.dataFormat)}`)
  const x = args[0]
  switch (layer.getClassName()) {
    case 'Conv2D':
    case 'DepthwiseConv2D':
      return withActivation(ctx, layer, convolution(ctx, layer, x, config), config.activation as string | undefined)
    case 'Dense':
      return withActivation(ctx, layer, dense(ctx, layer, x), config.activation as string | undefined)
    case 'Activation':
      return activation(ctx, layer, x, config.activation as string)
    case 'ReLU': {
      const max = config.maxValue as number | null | undefined
      const negative = (config.negativeSlope as number | undefined) ?? 0
      const threshold = (config.threshold as number | undefined) ?? 0
      if (negative !== 0 || threshold !== 0) throw new UnsupportedTrainingLayerError(layer, 'leaky or thresholded ReLU')
      return relu(ctx, x, max ?? null, true)
    }
    case 'BatchNormalization':
      return batchNorm(ctx, layer, x, config)
    case 'GlobalAveragePooling2D':
      return globalAverage(ctx, layer, x)
    case 'Flatten':
      return flatten(ctx, layer, x)
    case 'ZeroPadding2D':
      return zeroPadding(ctx, layer, x, config)
    case 'Add':
      return add(ctx, layer, args)
    case 'Concatenate':
      return concatenate(ctx, layer, args, config)
    case 'AveragePooling2D':
      return averagePool(ctx, layer, x, config)
    case 'MaxPooling2D':
      return maxPool(ctx, layer, x, config)
    case 'UpSampling2D':
      return upSampling(ctx, layer, x, config)
    case 'Dropout':
      return dropout(ctx, layer, x, config)
    default:
      throw new UnsupportedTrainingLayerError(layer, 'no gradient written for this layer kind')
  }
}

function spatial(layer: tf.layers.Layer, x: Value): [number, number, number] {
  if (x.shape.length !== 3) throw new UnsupportedTrainingLayerError(layer, `expects images (rank 4), got rank ${x.shape.length + 1}`)
  return x.shape as [number, number, number]
}

function convolution(ctx: Context, layer: tf.layers.Layer, x: Value, config: Config): Emitted {
  const { g } = ctx
  const depthwise = layer.getClassName() === 'DepthwiseConv2D'
  const [h, w, channels] = spatial(layer, x)
  const ownKernel = ctx.param(layer, depthwise ? 'depthwise_kernel' : 'kernel')!
  const [kh, kw, , last] = ownKernel.shape
  const strides = config.strides as number[]
  const dilations = config.dilationRate as number[]
  // Dilation: checked against tf.grads of the same convolution with its kernel spread out by zeros
  // (tfjs has no dilated gradient of its own); TensorFlow allows no stride > 1 with it.
  // tfjs-layers' DepthwiseConv2D ignores its dilation rate, so the tfjs model we score and save
  // would not compute what a dilated graph trained: refused rather than silently different.
  if (depthwise && dilations.some((d) => d > 1))
    throw new UnsupportedTrainingLayerError(layer, `dilation ${dilations.join('x')} (tfjs-layers runs DepthwiseConv2D without its dilation)`)
  const pads = tfPads(config.padding as string, [h, w], [kh, kw], strides, dilations)
  const group = depthwise ? channels : 1
  const outChannels = depthwise ? channels * last : last
  const outH = outputSize(h, kh, strides[0], dilations[0], pads[0] + pads[2])
  const outW = outputSize(w, kw, strides[1], dilations[1], pads[1] + pads[3])
  // A 1x1 kernel (never padded) reads every stride-th pixel: with those pixels cut out first, the
  // forward and the kernel gradient are stride-1 products. onnxruntime runs a strided 1x1 Conv
  // through im2col, and its kernel gradient as a dilated convolution 4x larger than needed
  // (ResNet50's res5a shortcut: 0.87 s a step, against 20 ms as one MatMul).
  const pointwise = !depthwise && kh === 1 && kw === 1 && pads.every((p) => p === 0)
  const strided = strides.some((st) => st > 1)
  const sample = (v: string, axes: number[]) => g.node('Slice', [v, g.int64([0, 0]), g.int64([h, w]), g.int64(axes), g.int64(strides)], {}, 'strided')
  const sampled = pointwise && strided ? sample(x.name, [2, 3]) : x.name
  // The same channels-last, where the graph has it: pixels as rows without a Transpose.
  const nhwc = ctx.channelsLast(x.name)
  const sampledLast = nhwc && pointwise && strided ? sample(nhwc, [1, 2]) : nhwc

  // onnxruntime's blocked kernels (nchwc.ts) take channels in whole blocks, and a depthwise kernel
  // with one output a channel.
  const block = ctx.nchwc?.block ?? 0
  const blocked = block > 0 && channels % block === 0 && (depthwise ? last === 1 : last % block === 0) ? ctx.nchwc : null
  const shape = { kh, kw, in: channels, out: outChannels }
  // In the blocked layout once, for the forward and the depthwise kernel gradient (already, when a folded convolution made it).
  const alias = sampled === x.name ? ctx.blocked?.get(x.name) : undefined
  const xBlocked = blocked ? (alias ?? (sampledLast ? toBlocked(g, sampledLast, true) : toBlocked(g, sampled))) : null
  const blockedAttributes =
    sampled === x.name ? { kernel_shape: [kh, kw], strides, dilations, pads } : { kernel_shape: [1, 1], strides: [1, 1], dilations: [1, 1], pads: [0, 0, 0, 0] }
  // Training folds only into a kernel that trains: the normalisation's gamma gradient comes from the folded kernel's.
  const plan = xBlocked && (!ctx.training || ownKernel.setGrad) ? ctx.fold?.(layer) : undefined
  const ownBias = ctx.param(layer, 'bias')
  const folded = plan ? foldedParams(ctx, plan, ownKernel, ownBias, depthwise ? [channels, last] : [outChannels]) : null
  // From here on the kernel and bias are the folded ones where there is a fold: the backward below
  // writes their gradients, and folded.finish() turns those into the layers' own.
  const kernel = folded?.kernel ?? ownKernel
  const bias = folded ? folded.bias : ownBias

  // tfjs kernels: Conv2D [kh, kw, in, out]; DepthwiseConv2D [kh, kw, in, multiplier] with output
  // channel i * multiplier + m. ONNX wants [out, in / group, kh, kw].
  const W = depthwise
    ? g.node('Reshape', [g.node('Transpose', [kernel.value], { perm: [2, 3, 0, 1] }), g.int64([outChannels, 1, kh, kw])])
    : g.node('Transpose', [kernel.value], { perm: [3, 2, 0, 1] })
  const attributes = { kernel_shape: [kh, kw], strides, dilations, pads, group }
  let y: string
  if (xBlocked) {
    // Folded: the normalisation's scale is in the kernel, its shift is the bias, the ReLU the
    // convolution's activation, and the output stays blocked for the next blocked convolution too.
    const fused = plan ? { activation: plan.activation } : undefined
    y = depthwise
      ? blockedDepthwiseConv(g, block, xBlocked, W, channels, blockedAttributes, bias?.value, fused)
      : blockedConv(g, block, xBlocked, kernel.value, shape, blockedAttributes, { bias: bias?.value, fused })
    if (fused) {
      const yBlocked = y
      // Left unused (and dropped) when only blocked convolutions read it and nothing trains.
      y = g.node('ReorderOutput', [yBlocked], { channels: outChannels }, 'nchwc_out', NCHWC_DOMAIN)
      ctx.blocked?.set(y, yBlocked)
    }
  } else {
    y =
      sampled === x.name
        ? g.node('Conv', bias ? [x.name, W, bias.value] : [x.name, W], attributes, 'conv')
        : g.node('Conv', bias ? [sampled, W, bias.value] : [sampled, W], { kernel_shape: [1, 1] }, 'conv')
  }

  // Values as channelRows(), made once for every product that reads them.
  const rowsOf = new Map<string, string>()
  const convolutionBackward: Backward = (dy, needed) => {
    if (bias?.setGrad) bias.setGrad(g.node('ReduceSum', [dy, g.int64([0, 2, 3])], { keepdims: 0 }))
    // The output gradient in the blocked layout, for the kernel gradient and the input gradient, when both run blocked.
    let dyBlockedValue: string | null = null
    const dyBlocked = () => (dyBlockedValue ??= toBlocked(g, dy))
    if (kernel.setGrad) kernel.setGrad(pointwise ? pointwiseKernelGradient(dy) : depthwise ? depthwiseKernelGradient(dy, dyBlocked) : tapKernelGradient(dy))
    if (!needed[0]) return [null]
    if (pointwise && !strided) {
      // The kernel times the output gradient's channel rows (shared with the kernel gradient), back
      // to NCHW: 10-20 % faster than a Conv on the blocked kernels (ResNet50's and MobileNet's sizes).
      const product = g.node('Gemm', [g.node('Reshape', [kernel.value, g.int64([channels, outChannels])]), channelRows(dy, outChannels)])
      return [g.node('Transpose', [g.node('Reshape', [product, g.int64([channels, -1, h, w])])], { perm: [1, 0, 2, 3] }, 'dx')]
    }
    if (!strided) {
      // Stride 1: the input gradient is the same convolution with the kernel turned by 180 degrees,
      // input and output channels swapped and the padding mirrored; onnxruntime runs that as a Conv,
      // 1.5-3x faster than the equivalent ConvTranspose.
      const reach = [(kh - 1) * dilations[0], (kw - 1) * dilations[1]]
      const mirrored = [reach[0] - pads[0], reach[1] - pads[1], reach[0] - pads[2], reach[1] - pads[3]]
      // [in, out / group, kh, kw]: depthwise groups of `last` output channels back to one input channel each.
      const swapped = depthwise
        ? g.node('Reshape', [g.node('Transpose', [kernel.value], { perm: [2, 3, 0, 1] }), g.int64([channels, last, kh, kw])])
        : g.node('Transpose', [kernel.value], { perm: [2, 3, 0, 1] })
      const flipped =
        kh === 1 && kw === 1 ? swapped : g.node('Slice', [swapped, g.int64([-1, -1]), g.int64([-kh - 1, -kw - 1]), g.int64([2, 3]), g.int64([-1, -1])])
      const attributes = { kernel_shape: [kh, kw], strides, dilations, pads: mirrored }
      if (blocked && depthwise) return [blockedDepthwiseConv(g, block, dyBlocked(), flipped, channels, attributes)]
      if (blocked) return [blockedConv(g, block, dyBlocked(), kernel.value, shape, attributes, { inputGradient: true })]
      return [g.node('Conv', [dy, flipped], { kernel_shape: [kh, kw], dilations, pads: mirrored, group }, 'dx')]
    }
    // The rows and columns the forward never reached (valid padding, stride > 1) get zeros from output_padding.
    const reach = (out: number, k: number, s: number, d: number) => s * (out - 1) + (k - 1) * d + 1
    const outputPadding = [h + pads[0] + pads[2] - reach(outH, kh, strides[0], dilations[0]), w + pads[1] + pads[3] - reach(outW, kw, strides[1], dilations[1])]
    return [g.node('ConvTranspose', [dy, W], { ...attributes, output_padding: outputPadding }, 'dx')]
  }
  const backward: Backward = !folded
    ? convolutionBackward
    : (dy, needed) => {
        if (!ctx.training) throw new Error(`${layer.name} is folded for scoring and has no backward`)
        // The ReLU's mask from its output: the same as from its input (tfjs's), but where the input was exactly the cap.
        const dz = plan!.activation ? g.node('Mul', [dy, reluMask(g, y, plan!.activation.max, false)], {}, 'drelu') : dy
        const dxs = convolutionBackward(dz, needed)
        folded.finish()
        return dxs
      }
  return { out: { name: y, shape: [outH, outW, outChannels] }, backward }

  /**
   * Channels as rows: [channels, batch * pixels] of an NCHW value (or of the same value
   * channels-last). A Gemm with transB over these ran ResNet50's 1x1 kernel gradients 1.3-3x
   * faster than one with transA over pixels as rows, its Transposes included (they move whole
   * images' planes here).
   */
  function channelRows(v: string, c: number, channelsLast?: string): string {
    const cached = rowsOf.get(v)
    if (cached) return cached
    const major = channelsLast ? g.node('Transpose', [channelsLast], { perm: [3, 0, 1, 2] }) : g.node('Transpose', [v], { perm: [1, 0, 2, 3] })
    const rows = g.node('Reshape', [major, g.int64([c, -1])])
    rowsOf.set(v, rows)
    return rows
  }

  /**
   * dW[c, o] = sum over images and (sampled) pixels of x[n, c, p] dy[n, o, p]: one Gemm over all
   * pixels of the batch, straight into tfjs's [1, 1, in, out].
   */
  function pointwiseKernelGradient(dy: string): string {
    const product = g.node('Gemm', [channelRows(sampled, channels, sampledLast), channelRows(dy, outChannels)], { transB: 1 }) // [in, out]
    return g.node('Reshape', [product, g.int64([1, 1, channels, outChannels])], {}, 'dkernel')
  }

  /**
   * Conv2D: one Gemm per kernel tap, dW[i, j] = x_ij dy^T over the batch's pixels, where x_ij is
   * the padded input seen through tap (i, j) (channels as rows). The taps stack into tfjs's
   * [kh, kw, in, out] as they are; as one convolution with batch and channels swapped (below),
   * onnxruntime ran ResNet50's 3x3 512-channel kernel gradient at half the speed.
   */
  function tapKernelGradient(dy: string): string {
    const source = nhwc ? g.node('Transpose', [nhwc], { perm: [3, 0, 1, 2] }) : g.node('Transpose', [x.name], { perm: [1, 0, 2, 3] }) // [in, n, h, w]
    const dyRows = channelRows(dy, outChannels)
    const seenThrough = strided && strides[0] === strides[1] && dilations.every((d) => d === 1) ? phaseTaps(source) : slicedTaps(source)
    const taps: string[] = []
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) taps.push(g.node('Gemm', [g.node('Reshape', [seenThrough(i, j), g.int64([channels, -1])]), dyRows], { transB: 1 })) // [in, out]
    }
    const stacked = taps.length === 1 ? taps[0] : g.node('Concat', taps, { axis: 0 })
    return g.node('Reshape', [stacked, g.int64([kh, kw, channels, outChannels])], {}, 'dkernel')
  }

  /** Tap (i, j) of the padded input [in, n, h, w] as one Slice (with steps for a dilated strided kernel). */
  function slicedTaps(source: string): (i: number, j: number) => string {
    const padded = pads.some((p) => p > 0) ? g.node('Pad', [source, g.int64([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])]) : source
    return (i, j) => {
      const start = [i * dilations[0], j * dilations[1]]
      const end = [start[0] + (outH - 1) * strides[0] + 1, start[1] + (outW - 1) * strides[1] + 1]
      return g.node('Slice', [padded, g.int64(start), g.int64(end), g.int64([2, 3]), g.int64(strides)])
    }
  }

  /**
   * Strided taps from the input split once into its stride phases (SpaceToDepth): tap (i, j) is
   * then a stride-1 Slice of phase (i mod s, j mod s). onnxruntime's Slice with steps took 3.3 ms a
   * tap for MobileNet's first layer at batch 21 (nine a step, profiled); a Transpose in place of
   * SpaceToDepth was moved past the Slices by onnxruntime's optimizer, and they got slower still.
   */
  function phaseTaps(source: string): (i: number, j: number) => string {
    const s = strides[0]
    // Padded up to whole phases; the rows added past TensorFlow's padding are never read.
    const rows = Math.ceil((h + pads[0] + pads[2]) / s)
    const cols = Math.ceil((w + pads[1] + pads[3]) / s)
    const padding = [0, 0, pads[0], pads[1], 0, 0, rows * s - h - pads[0], cols * s - w - pads[1]]
    const padded = g.node('Pad', [source, g.int64(padding)])
    // [in, (row phase * s + column phase) * n + image, rows, cols], phases apart:
    const phases = g.node('Reshape', [g.node('SpaceToDepth', [padded], { blocksize: s }), g.int64([channels, s * s, -1, rows, cols])])
    return (i, j) => {
      const start = [(i % s) * s + (j % s), Math.floor(i / s), Math.floor(j / s)]
      const end = [start[0] + 1, start[1] + outH, start[2] + outW]
      return g.node('Slice', [phases, g.int64(start), g.int64(end), g.int64([1, 3, 4])])
    }
  }

  /**
   * DepthwiseConv2D: batch and channels swapped, the images become the summed-over channels of a
   * convolution (one group per channel) whose kernel is the output gradient; the layer's stride
   * becomes that convolution's dilation. Faster here than per-tap products (measured).
   */
  function depthwiseKernelGradient(dy: string, dyBlocked: () => string): string {
    if (xBlocked && blocked?.maxBatch !== undefined) {
      const summed = blockedDepthwiseKernelGradient(
        g,
        { block: blocked.block, maxBatch: blocked.maxBatch },
        xBlocked,
        dyBlocked(),
        { channels, h, w, kh, kw, outH, outW },
        { strides, dilations, pads }
      )
      return g.node('Transpose', [g.node('Reshape', [summed, g.int64([channels, 1, kh, kw])])], { perm: [2, 3, 0, 1] }, 'dkernel')
    }
    const dyT = g.node('Transpose', [dy], { perm: [1, 0, 2, 3] }) // [out, n, oh, ow]
    const xT = g.node('Reshape', [g.node('Transpose', [x.name], { perm: [1, 0, 2, 3] }), g.int64([1, -1, h, w])]) // [1, in * n, h, w]
    const full = g.node('Conv', [xT, dyT], { kernel_shape: [outH, outW], strides: dilations, dilations: strides, pads, group: channels })
    // The last rows may reach past the kernel (padding beyond what the forward used): cut to kh x kw.
    const cut = g.node('Slice', [full, g.int64([0, 0]), g.int64([kh, kw]), g.int64([2, 3])]) // [1, in * multiplier, kh, kw]
    return g.node('Transpose', [g.node('Reshape', [cut, g.int64([channels, last, kh, kw])])], { perm: [2, 3, 0, 1] }, 'dkernel')
  }
}

function outputSize(size: number, kernel: number, stride: number, dilation: number, padding: number): number {
  return Math.floor((size + padding - ((kernel - 1) * dilation + 1)) / stride) + 1
}

function dense(ctx: Context, layer: tf.layers.Layer, x: Value): Emitted {
  const { g } = ctx
  if (x.shape.length !== 1) throw new UnsupportedTrainingLayerError(layer, `expects rank-2 input, got rank ${x.shape.length + 1}`)
  const kernel = ctx.param(layer, 'kernel')!
  const bias = ctx.param(layer, 'bias')
  const y = g.node('Gemm', bias ? [x.name, kernel.value, bias.value] : [x.name, kernel.value], {}, 'dense')
  const backward: Backward = (dy, needed) => {
    if (kernel.setGrad) kernel.setGrad(g.node('Gemm', [x.name, dy], { transA: 1 }, 'dkernel'))
    if (bias?.setGrad) bias.setGrad(g.node('ReduceSum', [dy, g.int64([0])], { keepdims: 0 }))
    return [needed[0] ? g.node('Gemm', [dy, kernel.value], { transB: 1 }, 'dx') : null]
  }
  return { out: { name: y, shape: [kernel.shape[1]] }, backward }
}

function withActivation(ctx: Context, layer: tf.layers.Layer, inner: Emitted, name: string | undefined): Emitted {
  if ((name ?? 'linear') === 'linear') return inner
  const outer = activation(ctx, layer, inner.out, name!)
  return {
    out: outer.out,
    backward: (dy, needed) => inner.backward(outer.backward(dy, [true])[0]!, needed),
    logits: outer.logits ? { name: outer.logits.name, backward: inner.backward } : undefined
  }
}

function activation(ctx: Context, layer: tf.layers.Layer, x: Value, name: string): Emitted {
  const { g } = ctx
  switch (name) {
    case 'linear':
      return { out: x, backward: (dy) => [dy] }
    case 'relu':
      return relu(ctx, x, null, false)
    case 'relu6':
      return relu(ctx, x, 6, false)
    case 'sigmoid': {
      const y = g.node('Sigmoid', [x.name])
      return { out: { ...x, name: y }, backward: (dy) => [g.node('Mul', [dy, g.node('Mul', [y, g.node('Sub', [g.scalar(1), y])])])] }
    }
    case 'tanh': {
      const y = g.node('Tanh', [x.name])
      return { out: { ...x, name: y }, backward: (dy) => [g.node('Mul', [dy, g.node('Sub', [g.scalar(1), g.node('Mul', [y, y])])])] }
    }
    case 'softmax': {
      if (x.shape.length !== 1) throw new UnsupportedTrainingLayerError(layer, 'softmax over images')
      const p = g.node('Softmax', [x.name], { axis: -1 }, 'softmax')
      // dz = p * (dp - sum(dp * p)): the general softmax backward, for whatever reads p.
      const backward: Backward = (dp) => {
        const inner = g.node('ReduceSum', [g.node('Mul', [dp, p]), g.int64([1])], { keepdims: 1 })
        return [g.node('Mul', [p, g.node('Sub', [dp, inner])], {}, 'dlogits')]
      }
      return { out: { ...x, name: p }, backward, logits: { name: x.name, backward: (dz) => [dz] } }
    }
    default:
      throw new UnsupportedTrainingLayerError(layer, `activation ${name}`)
  }
}

/**
 * tfjs's ReLU gradient passes where x > 0; a ReLU layer's with a max value (a clip) also where
 * x <= max, the relu6 activation's (a minimum) where x < 6.
 */
function relu(ctx: Context, x: Value, max: number | null, capIncluded: boolean): Emitted {
  const { g } = ctx
  const y = max === null ? g.node('Relu', [x.name]) : g.node('Clip', [x.name, g.scalar(0), g.scalar(max)], {}, 'relu6')
  const backward: Backward = (dy) => [g.node('Mul', [dy, reluMask(g, x.name, max, capIncluded)], {}, 'drelu')]
  return { out: { ...x, name: y }, backward }
}

/**
 * BatchNormalization with frozen statistics (Keras' inference mode, the fine-tuning default):
 * y = gamma * (x - mean) / sqrt(var + eps) + beta, a per-channel affine map of x.
 */
function batchNorm(ctx: Context, layer: tf.layers.Layer, x: Value, config: Config): Emitted {
  const { g } = ctx
  const axis = config.axis as number | number[]
  const channelAxis = Array.isArray(axis) ? axis[0] : axis
  if (channelAxis !== -1 && channelAxis !== x.shape.length) throw new UnsupportedTrainingLayerError(layer, `normalises axis ${JSON.stringify(axis)}`)
  const channels = x.shape.at(-1)!
  // Per-channel parameters broadcast against NCHW as [C, 1, 1]; against [N, C] as they are.
  const perChannel = (v: string) => (x.shape.length === 3 ? g.node('Reshape', [v, g.int64([channels, 1, 1])]) : v)
  if (ctx.batchNorm === 'batch' && layer.trainable) return batchStatistics(ctx, layer, x, config, perChannel)
  const mean = ctx.param(layer, 'moving_mean')!
  const variance = ctx.param(layer, 'moving_variance')!
  const gamma = ctx.param(layer, 'gamma')
  const beta = ctx.param(layer, 'beta')
  const epsilon = config.epsilon as number
  const ones = () => g.float(new Float32Array(channels).fill(1))
  const zeros = () => g.float(new Float32Array(channels))
  // onnxruntime's BatchNormalization (inference mode) in one pass, where Sub, Mul, Mul and Add took four.
  const normalise = (scale: string, shift: string, hint: string) =>
    g.node('BatchNormalization', [x.name, scale, shift, mean.value, variance.value], { epsilon }, hint)
  const y = normalise(gamma?.value ?? ones(), beta?.value ?? zeros(), 'bn')
  const reduceAxes = x.shape.length === 3 ? [0, 2, 3] : [0]
  const backward: Backward = (dy, needed) => {
    if (!beta?.setGrad && !gamma?.setGrad && !needed[0]) return [null]
    const inv = inverseDeviation(g, variance.value, epsilon)
    const sumDy = beta?.setGrad || gamma?.setGrad ? g.node('ReduceSum', [dy, g.int64(reduceAxes)], { keepdims: 0 }, 'dbeta') : null
    if (beta?.setGrad) beta.setGrad(sumDy!)
    if (gamma?.setGrad) {
      // sum(dy * xhat) = inv * (sum(dy * x) - mean * sum(dy)): one pass over the activations fewer
      // than normalising x again for the product.
      const sumDyX = g.node('ReduceSum', [g.node('Mul', [dy, x.name]), g.int64(reduceAxes)], { keepdims: 0 })
      gamma.setGrad(g.node('Mul', [inv, g.node('Sub', [sumDyX, g.node('Mul', [mean.value, sumDy!])])], {}, 'dgamma'))
    }
    if (!needed[0]) return [null]
    const scale = gamma ? g.node('Mul', [gamma.value, inv]) : inv
    return [g.node('Mul', [dy, perChannel(scale)], {}, 'dx')]
  }
  return { out: { ...x, name: y }, backward }
}

/** 1 / sqrt(variance + epsilon): BatchNormalization's per-channel factor. */
function inverseDeviation(g: OnnxGraph, variance: string, epsilon: number): string {
  return g.node('Div', [g.scalar(1), g.node('Sqrt', [g.node('Add', [variance, g.scalar(epsilon)])])])
}

/** A convolution's kernel and bias with the normalisation after it folded in (batchnorm-fold.ts). */
interface FoldedParams {
  kernel: Param
  bias: Param
  /** After the convolution's backward: the gradients of the layers' own weights from the folded ones'. */
  finish(): void
}

/**
 * W' = W s and b' = s (b - mean) + beta per output channel, s = gamma / sqrt(var + eps): the
 * convolution then computes the frozen-statistics normalisation as well. Training, the folded
 * weights' gradients give the layers' own: dW = dW' s, db = db' s, dbeta = db', and
 * dgamma = (sum over each channel's kernel of dW' W + db' (b - mean)) / sqrt(var + eps), products
 * over kernels and channels where the normalisation's own backward took three passes over the
 * activations. `perOutput`: the kernel's last axes that hold its output channels.
 */
function foldedParams(ctx: Context, plan: FoldPlan, kernel: Param, bias: Param | null, perOutput: number[]): FoldedParams {
  const { g } = ctx
  const norm = plan.batchNorm
  const mean = ctx.param(norm, 'moving_mean')!
  const variance = ctx.param(norm, 'moving_variance')!
  const gamma = ctx.param(norm, 'gamma')
  const beta = ctx.param(norm, 'beta')
  const inv = inverseDeviation(g, variance.value, norm.getConfig().epsilon as number)
  const scale = gamma ? g.node('Mul', [gamma.value, inv]) : inv
  const outChannels = perOutput.reduce((a, b) => a * b)
  const byOutput = (v: string) => (perOutput.length === 1 ? v : g.node('Reshape', [v, g.int64(perOutput)]))
  const centred = bias ? g.node('Sub', [bias.value, mean.value]) : g.node('Neg', [mean.value])
  const shift = g.node('Add', [g.node('Mul', [centred, scale]), beta?.value ?? g.scalar(0)])
  const folded: FoldedParams = {
    kernel: { value: g.node('Mul', [kernel.value, byOutput(scale)]), shape: kernel.shape },
    bias: { value: shift, shape: [outChannels] },
    finish() {}
  }
  if (!ctx.training) return folded
  let dKernel: string | null = null
  let dBias: string | null = null
  folded.kernel.setGrad = (grad) => void (dKernel = grad)
  if (gamma?.setGrad || beta?.setGrad || bias?.setGrad) folded.bias.setGrad = (grad) => void (dBias = grad)
  folded.finish = () => {
    if (dKernel === null) throw new Error(`${norm.name} is folded into a convolution whose backward gave no kernel gradient`)
    kernel.setGrad?.(g.node('Mul', [dKernel, byOutput(scale)], {}, 'dkernel'))
    if (dBias === null) return
    if (beta?.setGrad) beta.setGrad(dBias)
    if (bias?.setGrad) bias.setGrad(g.node('Mul', [dBias, scale], {}, 'dbias'))
    if (gamma?.setGrad) {
      const axes = perOutput.length === 1 ? [0, 1, 2] : [0, 1]
      const overKernel = g.node('ReduceSum', [g.node('Mul', [dKernel, kernel.value]), g.int64(axes)], { keepdims: 0 })
      const flat = perOutput.length === 1 ? overKernel : g.node('Reshape', [overKernel, g.int64([outChannels])])
      gamma.setGrad(g.node('Mul', [g.node('Add', [flat, g.node('Mul', [dBias, centred])]), inv], {}, 'dgamma'))
    }
  }
  return folded
}

/**
 * Where a ReLU (capped at `max`) passes the gradient, as 0/1 floats: 0 < v < max, or 0 < v <= max
 * with `capIncluded`. From a ReLU's output (a folded convolution's) the mask is 0 < y < max, which
 * differs from tfjs's clip only where the input was exactly the cap. Each bound is one
 * HardSigmoid, clamp(A v + B, 0, 1), whose slope A is a power of two so large that any float on
 * the passing side lands at 1 or beyond and any other at 0 or below: A v is exact, and so is
 * A (cap - v) near the cap (Sterbenz), so the mask is exact on every normal float (subnormal
 * activations, flushed to zero on onnxruntime's threads, could get a fraction). onnxruntime's
 * comparisons and Cast to float run element by element: a ReLU6 mask as Greater, LessOrEqual, And
 * and Cast took 1.6-1.8x as long as two HardSigmoids and a Mul, a ReLU's Greater and Cast 2.1x one
 * HardSigmoid (32x256x7x7 and 32x128x14x14, two threads). Products with Where took 3-5x as long
 * as a Mul of the same shape.
 */
function reluMask(g: OnnxGraph, v: string, max: number | null, capIncluded: boolean): string {
  const positive = g.node('HardSigmoid', [v], { alpha: 2 ** 126, beta: 0 })
  if (max === null) return positive
  // Capped at 0 (or below), a ReLU passes nothing.
  if (!(Math.fround(max) > 0)) return g.node('Mul', [positive, g.scalar(0)])
  const cap = capIncluded ? nextFloat32(max) : Math.fround(max)
  // A (cap - v) must stay finite at the cap, and reach 1 a float below it: A < 2^127 / cap.
  const slope = 2 ** (126 - Math.ceil(Math.log2(cap)))
  const belowCap = g.node('HardSigmoid', [v], { alpha: -slope, beta: slope * cap })
  return g.node('Mul', [positive, belowCap])
}

/** The smallest float32 above a positive `value`'s float32: v <= value and v < it agree for every float v. */
function nextFloat32(value: number): number {
  const bits = new Float32Array([value])
  new Int32Array(bits.buffer)[0] += 1
  return bits[0]
}

/**
 * Batch statistics, as tfjs's BatchNormalization in training: mean and biased variance over the
 * batch (and pixels), and the moving statistics moved towards them by 1 - momentum. Backward:
 * dx = inv * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), with dxhat = dy * gamma.
 * Every pass over the activations counts (they are memory-bound): onnxruntime's BatchNormalization
 * in training mode gives the statistics and y in one node (where ReduceMean, Sub, ReduceSumSquare
 * and an inference-mode normalisation took 7-8 % longer on ResNet50's conv5), and the backward's
 * terms in x are a second per-channel affine map of x, an inference-mode normalisation.
 */
function batchStatistics(ctx: Context, layer: tf.layers.Layer, x: Value, config: Config, perChannel: (v: string) => string): Emitted {
  const { g } = ctx
  const gamma = ctx.param(layer, 'gamma')
  const beta = ctx.param(layer, 'beta')
  if (!gamma || !beta) throw new UnsupportedTrainingLayerError(layer, 'batch statistics without scale or centre (tfjs cannot train that either)')
  const images = x.shape.length === 3
  const axes = images ? [0, 2, 3] : [0]
  const epsilon = config.epsilon as number
  const channels = x.shape.at(-1)!
  // onnxruntime's own training mode: the batch's mean and biased variance come out as the "running"
  // statistics when their momentum is 0 (the moving ones are updated below, as tfjs does).
  const [y, mean, variance] = g.nodeN(
    'BatchNormalization',
    [x.name, gamma.value, beta.value, g.float(new Float32Array(channels)), g.float(new Float32Array(channels).fill(1))],
    3,
    { epsilon, momentum: 0, training_mode: 1 }
  )

  const decay = g.scalar(1 - (config.momentum as number))
  for (const [name, batchValue] of [
    ['moving_mean', mean],
    ['moving_variance', variance]
  ] as const) {
    const moving = ctx.updated(layer, name)
    moving.setNew(g.node('Sub', [moving.value, g.node('Mul', [g.node('Sub', [moving.value, batchValue]), decay])], {}, name))
  }

  const backward: Backward = (dy, needed) => {
    const inv = inverseDeviation(g, variance, epsilon)
    const sumDy = g.node('ReduceSum', [dy, g.int64(axes)], { keepdims: 0 }, 'dbeta')
    // sum(dy * xhat) = inv * (sum(dy * x) - mean * sum(dy)): xhat is never written out.
    const sumDyX = g.node('ReduceSum', [g.node('Mul', [dy, x.name]), g.int64(axes)], { keepdims: 0 })
    const sumDyXhat = g.node('Mul', [inv, g.node('Sub', [sumDyX, g.node('Mul', [mean, sumDy])])], {}, 'dgamma')
    beta.setGrad?.(sumDy)
    gamma.setGrad?.(sumDyXhat)
    if (!needed[0]) return [null]
    // dx = a dy + (b (x - mean) / sqrt(var + eps) + c) per channel, with a = gamma inv,
    // b = -a mean(dy xhat) and c = -a mean(dy): the bracket is the forward's normalisation of x
    // with scale b and shift c, one pass; a Mul and an Add make three where xhat's form took four.
    const count = g.node('Div', [g.node('Cast', [g.node('Size', [x.name])], { to: 1 }), g.scalar(channels)])
    const a = g.node('Mul', [gamma.value, inv])
    const b = g.node('Neg', [g.node('Div', [g.node('Mul', [a, sumDyXhat]), count])])
    const c = g.node('Neg', [g.node('Div', [g.node('Mul', [a, sumDy]), count])])
    const inX = g.node('BatchNormalization', [x.name, b, c, mean, variance], { epsilon })
    return [g.node('Add', [g.node('Mul', [dy, perChannel(a)]), inX], {}, 'dx')]
  }
  return { out: { ...x, name: y }, backward }
}

function globalAverage(ctx: Context, layer: tf.layers.Layer, x: Value): Emitted {
  const { g } = ctx
  const [h, w, c] = spatial(layer, x)
  if ((layer.getConfig() as Config).keepdims === true) throw new UnsupportedTrainingLayerError(layer, 'keepdims')
  const y = g.node('ReduceMean', [x.name], { axes: [2, 3], keepdims: 0 }, 'gap')
  // Spread by a broadcast product with a constant plane of 1 / (h * w): onnxruntime's Expand took
  // 1.6x as long for MobileNet's 7x7x256 (measured).
  const backward: Backward = (dy) => [
    g.node('Mul', [g.node('Reshape', [dy, g.int64([0, c, 1, 1])]), g.float(new Float32Array(h * w).fill(1 / (h * w)), [1, 1, h, w])], {}, 'dgap')
  ]
  return { out: { name: y, shape: [c] }, backward }
}

function flatten(ctx: Context, layer: tf.layers.Layer, x: Value): Emitted {
  const { g } = ctx
  if (x.shape.length === 1) return { out: x, backward: (dy) => [dy] }
  const [h, w, c] = spatial(layer, x)
  // Keras flattens channels-last: back to that order first.
  const y = g.node('Flatten', [g.node('Transpose', [x.name], { perm: [0, 2, 3, 1] })], { axis: 1 })
  const backward: Backward = (dy) => [g.node('Transpose', [g.node('Reshape', [dy, g.int64([-1, h, w, c])])], { perm: [0, 3, 1, 2] })]
  return { out: { name: y, shape: [h * w * c] }, backward }
}

function zeroPadding(ctx: Context, layer: tf.layers.Layer, x: Value, config: Config): Emitted {
  const { g } = ctx
  const [h, w, c] = spatial(layer, x)
  const [[top, bottom], [left, right]] = config.padding as number[][]
  const y = g.node('Pad', [x.name, g.int64([0, 0, top, left, 0, 0, bottom, right])])
  const backward: Backward = (dy) => [g.node('Slice', [dy, g.int64([top, left]), g.int64([top + h, left + w]), g.int64([2, 3])])]
  return { out: { name: y, shape: [h + top + bottom, w + left + right, c] }, backward }
}

function add(ctx: Context, layer: tf.layers.Layer, args: Value[]): Emitted {
  const { g } = ctx
  const shape = JSON.stringify(args[0].shape)
  if (args.some((a) => JSON.stringify(a.shape) !== shape)) throw new UnsupportedTrainingLayerError(layer, 'adds tensors of different shapes (broadcast)')
  const y = args.slice(1).reduce((sum, a) => g.node('Add', [sum, a.name]), args[0].name)
  return { out: { ...args[0], name: y }, backward: (dy, needed) => needed.map((n) => (n ? dy : null)) }
}

/**
 * Training-mode dropout with a mask the runner draws from the run's seed and the step number
 * (so a resumed run draws the masks an unbroken one would; they differ from tfjs's, whose
 * generator is its own): kept values scaled by 1 / (1 - rate) as tfjs does, the gradient through
 * the same mask.
 */
function dropout(ctx: Context, layer: tf.layers.Layer, x: Value, config: Config): Emitted {
  const { g } = ctx
  const rate = config.rate as number
  if (rate === 0 || !ctx.training) return { out: x, backward: (dy) => [dy] }
  if (config.noiseShape != null) throw new UnsupportedTrainingLayerError(layer, 'dropout with a noise shape')
  // The graph holds images channels-first: the mask takes the value's own layout.
  const shape = x.shape.length === 3 ? [x.shape[2], x.shape[0], x.shape[1]] : x.shape
  const mask = ctx.dropoutMask(layer, shape, rate)
  const y = g.node('Mul', [x.name, mask], {}, 'dropout')
  const backward: Backward = (dy) => [g.node('Mul', [dy, mask], {}, 'ddropout')]
  return { out: { ...x, name: y }, backward }
}

function concatenate(ctx: Context, layer: tf.layers.Layer, args: Value[], config: Config): Emitted {
  const { g } = ctx
  const rank = args[0].shape.length
  const axis = config.axis as number
  if (axis !== -1 && axis !== rank) throw new UnsupportedTrainingLayerError(layer, `concatenates on axis ${axis}`)
  // Channels are axis 1 both in NCHW and in [N, features].
  const sizes = args.map((a) => a.shape.at(-1)!)
  const y = g.node(
    'Concat',
    args.map((a) => a.name),
    { axis: 1 },
    'concat'
  )
  const shape = [...args[0].shape.slice(0, -1), sizes.reduce((a, b) => a + b, 0)]
  const backward: Backward = (dy, needed) => {
    const parts = g.nodeN('Split', [dy, g.int64(sizes)], args.length, { axis: 1 })
    return parts.map((part, i) => (needed[i] ? part : null))
  }
  return { out: { name: y, shape }, backward }
}

/**
 * Average pooling as TensorFlow does it: padded positions left out of each average. Backward:
 * each output's gradient divided by its window's count, spread back over the window by a
 * per-channel ConvTranspose with a kernel of ones.
 */
function averagePool(ctx: Context, layer: tf.layers.Layer, x: Value, config: Config): Emitted {
  const { g } = ctx
  const [h, w, c] = spatial(layer, x)
  const size = config.poolSize as number[]
  const strides = (config.strides as number[] | null) ?? size
  const pads = tfPads(config.padding as string, [h, w], size, strides, [1, 1])
  const outH = outputSize(h, size[0], strides[0], 1, pads[0] + pads[2])
  const outW = outputSize(w, size[1], strides[1], 1, pads[1] + pads[3])
  const y = g.node('AveragePool', [x.name], { kernel_shape: size, strides, pads }, 'avgpool')
  // How many real (unpadded) pixels each output window covers.
  const counts = new Float32Array(outH * outW)
  const covered = (start: number, k: number, limit: number) => Math.min(start + k, limit) - Math.max(start, 0)
  for (let i = 0; i < outH; i++) {
    for (let j = 0; j < outW; j++) counts[i * outW + j] = covered(i * strides[0] - pads[0], size[0], h) * covered(j * strides[1] - pads[1], size[1], w)
  }
  const backward: Backward = (dy) => {
    const perPixel = g.node('Div', [dy, g.float(counts, [1, 1, outH, outW])])
    const ones = g.float(new Float32Array(c * size[0] * size[1]).fill(1), [c, 1, size[0], size[1]])
    const reach = (out: number, k: number, s: number) => s * (out - 1) + k
    const outputPadding = [h + pads[0] + pads[2] - reach(outH, size[0], strides[0]), w + pads[1] + pads[3] - reach(outW, size[1], strides[1])]
    return [g.node('ConvTranspose', [perPixel, ones], { kernel_shape: size, strides, pads, group: c, output_padding: outputPadding }, 'davgpool')]
  }
  return { out: { name: y, shape: [outH, outW, c] }, backward }
}

/**
 * Max pooling ('same' pads count as minus infinity, as in TensorFlow). Backward: each output's
 * gradient goes to the input pixel that was its window's maximum (onnxruntime's MaxPool indices,
 * flat over the NCHW input), summed where overlapping windows chose the same pixel.
 */
function maxPool(ctx: Context, layer: tf.layers.Layer, x: Value, config: Config): Emitted {
  const { g } = ctx
  const [h, w, c] = spatial(layer, x)
  const size = config.poolSize as number[]
  const strides = (config.strides as number[] | null) ?? size
  const pads = tfPads(config.padding as string, [h, w], size, strides, [1, 1])
  const outH = outputSize(h, size[0], strides[0], 1, pads[0] + pads[2])
  const outW = outputSize(w, size[1], strides[1], 1, pads[1] + pads[3])
  const [y, indices] = g.nodeN('MaxPool', [x.name], 2, { kernel_shape: size, strides, pads })
  const backward: Backward = (dy) => {
    const shape = g.node('Shape', [x.name])
    const flat = (v: string) => g.node('Reshape', [v, g.int64([-1])])
    const zeros = flat(g.node('ConstantOfShape', [shape]))
    const scattered = g.node('ScatterElements', [zeros, flat(indices), flat(dy)], { axis: 0, reduction: 'add' })
    return [g.node('Reshape', [scattered, shape], {}, 'dmaxpool')]
  }
  return { out: { name: y, shape: [outH, outW, c] }, backward }
}

/** Nearest-neighbour upsampling by whole factors: each pixel repeated; backward sums each block. */
function upSampling(ctx: Context, layer: tf.layers.Layer, x: Value, config: Config): Emitted {
  const { g } = ctx
  const [h, w, c] = spatial(layer, x)
  const [a, b] = config.size as number[]
  if ((config.interpolation ?? 'nearest') !== 'nearest') throw new UnsupportedTrainingLayerError(layer, `${String(config.interpolation)} interpolation`)
  const spread = g.node('Expand', [g.node('Reshape', [x.name, g.int64([0, 0, h, 1, w, 1])]), g.int64([1, 1, 1, a, 1, b])])
  const y = g.node('Reshape', [spread, g.int64([0, 0, h * a, w * b])], {}, 'upsample')
  const backward: Backward = (dy) => [
    g.node('ReduceSum', [g.node('Reshape', [dy, g.int64([0, 0, h, a, w, b])]), g.int64([3, 5])], { keepdims: 0 }, 'dupsample')
  ]
  return { out: { name: y, shape: [h * a, w * b, c] }, backward }
}
