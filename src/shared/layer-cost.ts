// What a set of layer toggles costs per epoch, from the layer tree alone: the trainable parameter
// count, and floating-point operations estimated from each layer's output shape and parameters.
// A convolution or Dense layer does one multiply-add per weight per output position, so its
// forward pass is 2 x parameters x output pixels; other layers a couple of operations per output
// value. Backward: the weight gradient and the input gradient each cost about a forward pass; the
// first trainable layer needs no input gradient, and layers after it without weights pass only the
// input gradient back. The frozen prefix before the first trainable layer runs once per image
// (its outputs are cached), so it does not count per epoch. The same function sizes the engine's
// speed calibration, so the two agree on what a FLOP is.
import type { LayerNode, ModelSummary } from './protocol'

type CostedLayer = Pick<LayerNode, 'name' | 'type' | 'outputShape' | 'parameters' | 'trainableParameters'>

const WEIGHTED = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense', 'Conv2DTranspose'])

/** Forward floating-point operations of one layer on one image. */
export function forwardFlops(layer: CostedLayer): number {
  const dims = layer.outputShape.slice(1).map((d) => d ?? 1)
  const values = dims.reduce((a, b) => a * b, 1)
  if (WEIGHTED.has(layer.type)) {
    const positions = dims.length > 1 ? values / dims[dims.length - 1] : 1
    return 2 * layer.parameters * positions
  }
  return 2 * values
}

export interface EpochCost {
  trainableParameters: number
  /** The first layer that trains, or null when none does. */
  firstTrainable: string | null
  /** Forward + backward operations for one training image, forward only for one validation image. */
  trainFlopsPerImage: number
  valFlopsPerImage: number
}

/** The cost of training `layers` (in call order) with the layers named in `frozen` frozen. */
export function epochCost(layers: readonly CostedLayer[], frozen: ReadonlySet<string>): EpochCost {
  const trains = (l: CostedLayer) => !frozen.has(l.name) && l.trainableParameters > 0
  const first = layers.findIndex(trains)
  if (first < 0) return { trainableParameters: 0, firstTrainable: null, trainFlopsPerImage: 0, valFlopsPerImage: 0 }
  let forward = 0
  let backward = 0
  let trainableParameters = 0
  layers.slice(first).forEach((layer, i) => {
    const f = forwardFlops(layer)
    forward += f
    const weights = trains(layer)
    if (weights) trainableParameters += layer.trainableParameters
    // Weight gradient (when it trains) + input gradient (except for the very first trainable layer).
    backward += (weights ? f : 0) + (i > 0 ? f : 0)
  })
  return { trainableParameters, firstTrainable: layers[first].name, trainFlopsPerImage: forward + backward, valFlopsPerImage: forward }
}

/** Every layer of a summary, in call order. */
export const summaryLayers = (summary: ModelSummary): LayerNode[] => summary.blocks.flatMap((b) => b.layers)

/** Seconds per epoch at `flopsPerSecond` for `images` training and validation photos. */
export function secondsPerEpoch(cost: EpochCost, images: { train: number; val: number }, flopsPerSecond: number): number {
  return (cost.trainFlopsPerImage * images.train + cost.valFlopsPerImage * images.val) / flopsPerSecond
}
