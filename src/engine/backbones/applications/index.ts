// The Keras applications built here from their Python definitions, by the name the registry uses.
import type * as tf from '@tensorflow/tfjs'
import { denseNet } from './densenet'
import { mobileNetV2 } from './mobilenet-v2'
import { vgg16 } from './vgg16'

export const ARCHITECTURES = {
  densenet121: (includeTop: boolean) => denseNet('densenet121', includeTop),
  densenet201: (includeTop: boolean) => denseNet('densenet201', includeTop),
  vgg16,
  mobilenet_v2_1_0_224: mobileNetV2
} satisfies Record<string, (includeTop: boolean) => tf.LayersModel>

export type Architecture = keyof typeof ARCHITECTURES
