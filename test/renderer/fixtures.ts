import type { ModelSummary } from '../../src/shared/protocol'

const layer = (name: string, type: string, parameters: number, trainableParameters: number, trainable: boolean) => ({
  name,
  type,
  outputShape: [null, 7, 7, 8],
  parameters,
  trainableParameters,
  trainable,
  hasWeights: parameters > 0
})

/** A small model in the shape the engine describes one: input, two backbone blocks, a head. */
export const SUMMARY: ModelSummary = {
  blocks: [
    { name: 'input', part: 'input', layers: [layer('image', 'InputLayer', 0, 0, true)] },
    {
      name: 'block_1',
      part: 'backbone',
      layers: [layer('conv_dw_1', 'DepthwiseConv2D', 72, 72, false), layer('conv_dw_1_bn', 'BatchNormalization', 32, 16, false)]
    },
    {
      name: 'block_2',
      part: 'backbone',
      layers: [layer('conv_pw_2', 'Conv2D', 64, 64, false), layer('conv_pw_2_bn', 'BatchNormalization', 32, 16, false)]
    },
    { name: 'head', part: 'head', layers: [layer('head_pool', 'GlobalAveragePooling2D', 0, 0, true), layer('predictions', 'Dense', 18, 18, true)] }
  ],
  totalParameters: 218,
  trainableParameters: 18,
  nonTrainableParameters: 200
}
