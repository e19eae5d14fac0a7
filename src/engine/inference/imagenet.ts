// Classification with a backbone's own ImageNet top, named as Keras' decode_predictions names
// the classes (its first synonym: "tabby", "espresso").
import { createRequire } from 'node:module'
import type { PredictionResult } from '../../shared/protocol'
import { loadBackbone, type LoadOptions } from '../backbones/load'
import { classifyImages } from './classify'
import type { ImageSource } from '../images/decode'

const require = createRequire(import.meta.url)

let classNames: string[] | undefined

/** The 1000 ImageNet class names in the order of the classifier's outputs. */
export function imagenetClasses(): string[] {
  if (!classNames) {
    const { IMAGENET_CLASSES } = require('@tensorflow-models/mobilenet/dist/imagenet_classes.js') as {
      IMAGENET_CLASSES: Record<number, string>
    }
    classNames = Array.from({ length: 1000 }, (_, i) => IMAGENET_CLASSES[i])
  }
  return classNames
}

export function shortName(className: string): string {
  return className.split(',')[0].trim()
}

export interface ClassifyOptions extends LoadOptions {
  top?: number
}

/** One result per image, in order; one that cannot be decoded gets its reason, the rest go on. */
export async function classifyImageNet(backbone: string, files: ImageSource[], options: ClassifyOptions = {}): Promise<PredictionResult[]> {
  const { spec, model } = await loadBackbone(backbone, { ...options, includeTop: true })
  try {
    const labels = imagenetClasses().map(shortName)
    return await classifyImages({ model, inputSize: spec.inputSize, preprocess: spec.preprocess, labels }, files, options.top ?? 5)
  } finally {
    model.dispose()
  }
}
