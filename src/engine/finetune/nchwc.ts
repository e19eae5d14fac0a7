// onnxruntime's blocked-channel (NCHWc) kernels for the convolutions that train.
// onnxruntime runs a Conv whose kernel is a graph input (ours are: they train) through im2col (a
// grouped one one group at a time); only a Conv with a constant kernel is rewritten by its NCHWc
// transformer to the blocked kernels, which ran MobileNet's depthwise layers 3-5x and ResNet50's
// 3x3 512-channel Conv2D 2.6x faster (docs/adr/0005). Those kernels are registered operators
// (domain com.microsoft.nchwc) that read whatever kernel they are given, in their blocked layout:
// the graph reorders its trainable kernel itself each step. The block (16 channels with AVX-512, 8
// with AVX2, none on ARM) is this CPU's, probed once with a check against a standard Conv; without
// it every convolution stays a standard Conv.
import type { Ort } from '../onnx-runtime'
import { OnnxGraph } from './onnx-graph'

export const NCHWC_DOMAIN = 'com.microsoft.nchwc'

export interface Nchwc {
  /** Channels a block holds on this CPU. */
  block: number
  /**
   * The largest batch a step sees. The kernel gradient's group count is batch x channels, fixed
   * in the graph; without it that gradient stays a standard grouped Conv.
   */
  maxBatch?: number
}

export interface DepthwiseAttributes {
  kernel_shape: number[]
  strides: number[]
  dilations: number[]
  pads: number[]
}

/**
 * What a folded convolution (batchnorm-fold.ts) fuses into a blocked Conv: its activation (ReLU, or
 * ReLU capped at `max`), and its output left in the blocked layout for the next blocked Conv (the
 * caller reorders it).
 */
export interface Fused {
  activation: { max: number | null } | null
}

function fusedAttributes(fused: Fused | undefined): Record<string, string | number[]> {
  const activation = fused?.activation
  if (!activation) return {}
  return activation.max === null ? { activation: 'Relu' } : { activation: 'Clip', activation_params: [0, activation.max] }
}

/** What the probe found: this CPU's block, or why the convolutions stay standard. */
export type NchwcProbe = { block: number } | { unavailable: string }

let probed: Promise<NchwcProbe> | undefined

/** What `info`, the app and the trainer's description say about the convolutions' kernels. */
export function describeNchwc(found: NchwcProbe): string {
  return 'block' in found
    ? `, convolutions on blocked kernels (${found.block} channels a block)`
    : `, convolutions on standard kernels (no blocked ones: ${found.unavailable})`
}

/** Probed once a process: this CPU's NCHWc block, or why there is none to use. */
export function probeNchwc(runtime: Ort): Promise<NchwcProbe> {
  probed ??= probe(runtime).catch((error: Error) => ({ unavailable: `onnxruntime could not run them here (${firstLine(error.message)})` }))
  return probed
}

/** This CPU's NCHWc block, or null when onnxruntime has no such kernels here (or they disagree with its Conv, depthwise or not). */
export async function nchwcBlock(runtime: Ort): Promise<number | null> {
  const found = await probeNchwc(runtime)
  return 'block' in found ? found.block : null
}

/**
 * An NCHW value (or, with `channelsLast`, the same value NHWC), its channels a whole number of
 * blocks, in the blocked layout: [n, c / block, h, w, block] in memory under NCHW dims. That memory
 * is also the blocked layout of the n x c planes as the channels of one image, and the blocked
 * kernel layout of those planes (tap-major, a block's planes innermost): the kernel gradient reads
 * it as both.
 */
export function toBlocked(g: OnnxGraph, value: string, channelsLast = false): string {
  return g.node('ReorderInput', [value], channelsLast ? { channels_last: 1 } : {}, 'nchwc_in', NCHWC_DOMAIN)
}

/** A depthwise Conv (one channel a group, multiplier 1) of a toBlocked() value on the blocked kernels; NCHW out (blocked when `fused`). */
export function blockedDepthwiseConv(
  g: OnnxGraph,
  block: number,
  x: string,
  kernel: string,
  channels: number,
  attributes: DepthwiseAttributes,
  bias?: string,
  fused?: Fused
): string {
  const [kh, kw] = attributes.kernel_shape
  const k = blockedKernel(g, block, kernel, kh, kw)
  const y = g.node('Conv', bias ? [x, k, bias] : [x, k], { ...attributes, group: channels, ...fusedAttributes(fused) }, 'nchwc_conv', NCHWC_DOMAIN)
  return fused ? y : g.node('ReorderOutput', [y], { channels }, 'nchwc_out', NCHWC_DOMAIN)
}

/**
 * A Conv2D (one group) of a toBlocked() value on the blocked kernels, from tfjs's [kh, kw, in, out]
 * kernel, both channel counts whole blocks; NCHW out. `inputGradient` turns it into the stride-1
 * input gradient's convolution of a toBlocked() output gradient: the kernel turned by 180 degrees,
 * input and output channels swapped (the caller mirrors the padding). Blocked out when `fused`.
 */
export function blockedConv(
  g: OnnxGraph,
  block: number,
  x: string,
  kernel: string,
  shape: { kh: number; kw: number; in: number; out: number },
  attributes: DepthwiseAttributes,
  options: { bias?: string; inputGradient?: boolean; fused?: Fused } = {}
): string {
  const { kh, kw } = shape
  const k = options.inputGradient ? flippedSwappedBlockedKernel(g, block, kernel, shape) : blockedKernelOf(g, block, kernel, shape)
  const [convIn, convOut] = options.inputGradient ? [shape.out, shape.in] : [shape.in, shape.out]
  const w = g.node('Reshape', [k, g.int64([convOut, convIn, kh, kw])])
  const y = g.node(
    'Conv',
    options.bias ? [x, w, options.bias] : [x, w],
    { ...attributes, group: 1, ...fusedAttributes(options.fused) },
    'nchwc_conv',
    NCHWC_DOMAIN
  )
  return options.fused ? y : g.node('ReorderOutput', [y], { channels: convOut }, 'nchwc_out', NCHWC_DOMAIN)
}

/**
 * tfjs's [kh, kw, in, out] as the blocked Conv reads it: [out / block, in / block, kh, kw, in's
 * block, out's block], by transposes that each move one axis, which onnxruntime runs as matrix
 * transposes or copies of whole blocks. As one six-axis Transpose it took its generic strided
 * loop: 8 ms a step for each of ResNet50's 3x3 512-channel kernels, 3-4 ms this way (profiled).
 */
function blockedKernelOf(g: OnnxGraph, block: number, kernel: string, shape: { kh: number; kw: number; in: number; out: number }): string {
  const taps = shape.kh * shape.kw
  const outBlocks = shape.out / block
  const inBlocks = shape.in / block
  const outMajor = g.node('Transpose', [g.node('Reshape', [kernel, g.int64([taps * shape.in, shape.out])])], { perm: [1, 0] }) // [out, taps, in]
  // [out / block, taps, in, out's block]:
  const outBlockInner = g.node('Transpose', [g.node('Reshape', [outMajor, g.int64([outBlocks, block, taps * shape.in])])], { perm: [0, 2, 1] })
  if (taps === 1) return outBlockInner
  return g.node('Transpose', [g.node('Reshape', [outBlockInner, g.int64([outBlocks, taps, inBlocks, block * block])])], { perm: [0, 2, 1, 3] })
}

/**
 * The same kernel for the stride-1 input gradient: turned by 180 degrees, input and output
 * channels swapped, [in / block, out / block, kh, kw, out's block, in's block]. Two moves of one
 * axis each with the turn between them (reversing the taps, whole 4 KB blocks at a time):
 * onnxruntime had merged two adjacent moves back into one six-axis Transpose, which took ~11 ms a
 * step for each of ResNet50's 3x3 512-channel kernels (profiled); alone, 9.1-15.1 ms against
 * 3.3-7.2 this way.
 */
function flippedSwappedBlockedKernel(g: OnnxGraph, block: number, kernel: string, shape: { kh: number; kw: number; in: number; out: number }): string {
  const { kh, kw } = shape
  const taps = kh * kw
  const [inBlocks, outBlocks] = [shape.in / block, shape.out / block]
  // [taps, in / block, in's block, out] → [taps, in / block, out, in's block]
  const inInner = g.node('Transpose', [g.node('Reshape', [kernel, g.int64([taps * inBlocks, block, shape.out])])], { perm: [0, 2, 1] })
  const byTap = g.node('Reshape', [inInner, g.int64([taps, inBlocks * outBlocks, block * block])])
  const turned = taps > 1 ? g.node('Slice', [byTap, g.int64([-1]), g.int64([-taps - 1]), g.int64([0]), g.int64([-1])]) : byTap
  const tapsInside = g.node('Transpose', [turned], { perm: [1, 0, 2] })
  return g.node('Reshape', [tapsInside, g.int64([inBlocks, outBlocks, kh, kw, block, block])])
}

/**
 * The kernel gradient of a depthwise convolution (multiplier 1) from its toBlocked() input and
 * output gradient, [channels, kh, kw]: each image's channel, correlated with its own output
 * gradient, is one plane of a depthwise convolution over batch x channels planes (kernel: the
 * output gradient, stride: the layer's dilation, dilation: its stride), summed over the batch. A
 * short batch is padded with zero images, which add nothing.
 */
export function blockedDepthwiseKernelGradient(
  g: OnnxGraph,
  nchwc: Required<Nchwc>,
  x: string,
  dy: string,
  shape: { channels: number; h: number; w: number; kh: number; kw: number; outH: number; outW: number },
  layer: { strides: number[]; dilations: number[]; pads: number[] }
): string {
  const { channels, h, w, kh, kw, outH, outW } = shape
  const planes = nchwc.maxBatch * channels
  const missing = g.node('Sub', [g.int64([nchwc.maxBatch]), g.node('Gather', [g.node('Shape', [x]), g.int64([0])])])
  const batchPads = g.node('Concat', [g.int64([0, 0, 0, 0]), missing, g.int64([0, 0, 0])], { axis: 0 })
  // Whole images appended: in the blocked layout too, a batch's images lie one after another.
  const planesOf = (v: string, dims: number[]) => g.node('Reshape', [g.node('Pad', [v, batchPads]), g.int64(dims)])
  const attributes = { kernel_shape: [outH, outW], strides: layer.dilations, dilations: layer.strides, pads: layer.pads, group: planes }
  const conv = g.node('Conv', [planesOf(x, [1, planes, h, w]), planesOf(dy, [planes, 1, outH, outW])], attributes, 'nchwc_conv', NCHWC_DOMAIN)
  const full = g.node('ReorderOutput', [conv], { channels: planes }, 'nchwc_out', NCHWC_DOMAIN)
  // The last rows may reach past the kernel (padding beyond what the forward used): cut to kh x kw.
  const cut = g.node('Slice', [full, g.int64([0, 0]), g.int64([kh, kw]), g.int64([2, 3])])
  return g.node('ReduceSum', [g.node('Reshape', [cut, g.int64([nchwc.maxBatch, channels, kh, kw])]), g.int64([0])], { keepdims: 0 })
}

/** [channels, 1, kh, kw] as the NCHWc depthwise Conv reads it: per block of channels, tap-major, the block's channels innermost. */
function blockedKernel(g: OnnxGraph, block: number, kernel: string, kh: number, kw: number): string {
  const grouped = g.node('Transpose', [g.node('Reshape', [kernel, g.int64([-1, block, kh * kw])])], { perm: [0, 2, 1] })
  return g.node('Reshape', [grouped, g.int64([-1, 1, kh, kw])])
}

async function probe(runtime: Ort): Promise<NchwcProbe> {
  // ReorderInput pads the channels of its input (a multiple of 4) up to a whole block: 4 in, a block out.
  const sizing = new OnnxGraph()
  sizing.input('x', [1, 4, 1, 1])
  sizing.output('y', sizing.node('ReorderInput', ['x'], {}, 'nchwc_in', NCHWC_DOMAIN), [1, null, 1, 1])
  const block = (await runOnce(runtime, sizing, { x: [new Float32Array(4), [1, 4, 1, 1]] })).y.dims[1]
  if (!(block >= 4)) return { unavailable: 'this CPU has no block size for them' }
  // The blocked layouts written above, checked on this CPU against onnxruntime's standard Conv.
  const check = new OnnxGraph()
  const [n, c, size] = [2, 2 * block, 5]
  check.input('x', [n, c, size, size])
  check.input('w', [c, 1, 3, 3])
  check.input('k', [3, 3, c, c])
  const attributes = { kernel_shape: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1] }
  const dims = [n, c, size, size]
  check.output('depthwise', check.node('Conv', ['x', 'w'], { ...attributes, group: c }), dims)
  check.output('blockedDepthwise', blockedDepthwiseConv(check, block, toBlocked(check, 'x'), 'w', c, attributes), dims)
  check.output('conv', check.node('Conv', ['x', check.node('Transpose', ['k'], { perm: [3, 2, 0, 1] })], attributes), dims)
  check.output('blockedConv', blockedConv(check, block, toBlocked(check, 'x'), 'k', { kh: 3, kw: 3, in: c, out: c }, attributes), dims)
  const values = (length: number, f: (i: number) => number) => Float32Array.from({ length }, (_, i) => f(i))
  const out = await runOnce(runtime, check, {
    x: [values(n * c * size * size, Math.sin), dims],
    w: [values(c * 9, Math.cos), [c, 1, 3, 3]],
    k: [values(9 * c * c, (i) => Math.cos(i * 0.7)), [3, 3, c, c]]
  })
  const agree = (a: string, b: string) => {
    const [x, y] = [out[a].data as Float32Array, out[b].data as Float32Array]
    return x.every((value, i) => Math.abs(value - y[i]) <= 1e-5 * (1 + Math.abs(value)))
  }
  if (!agree('depthwise', 'blockedDepthwise')) return { unavailable: "a depthwise convolution on them disagreed with onnxruntime's standard one" }
  if (!agree('conv', 'blockedConv')) return { unavailable: "a convolution on them disagreed with onnxruntime's standard one" }
  return { block }
}

function firstLine(message: string): string {
  const line = message.split('\n')[0]
  return line.length > 160 ? `${line.slice(0, 157)}...` : line
}

async function runOnce(runtime: Ort, graph: OnnxGraph, feeds: Record<string, [Float32Array, number[]]>) {
  const session = await runtime.InferenceSession.create(graph.encode('nchwc_probe'), { intraOpNumThreads: 1, logSeverityLevel: 3 })
  try {
    return await session.run(Object.fromEntries(Object.entries(feeds).map(([name, [data, dims]]) => [name, new runtime.Tensor('float32', data, dims)])))
  } finally {
    await session.release()
  }
}
