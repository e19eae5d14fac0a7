// Puts the weights of a Keras .h5 file into a model built here, the way Keras' own
// `load_weights` (topological, not by name) does: the file's `layer_names` in order, keeping those
// whose `weight_names` list is not empty, matched one to one with the model's layers that have
// weights, each layer's tensors in its `weight_names` order. The names inside differ between
// Keras versions (VGG16's `block1_conv1_W_1:0`, DenseNet's nested `conv1/conv/conv1/conv/kernel:0`),
// the order does not. Every mismatch is an error naming the file, the layer and the tensor.
import * as tf from '@tensorflow/tfjs'
import { Hdf5Reader, type FloatDataset } from './hdf5'
import { WeightsError } from './weights'

export interface KerasTensor extends FloatDataset {
  /** As listed in weight_names, such as `conv1/conv/kernel:0`. */
  name: string
}

export interface KerasLayerWeights {
  layer: string
  tensors: KerasTensor[]
}

const shapeText = (shape: readonly (number | null)[]): string => `[${shape.join(', ')}]`

/** The layers of a Keras weights file (saved by save_weights, or a full model's model_weights) that hold weights, in file order. */
export function readKerasWeights(reader: Hdf5Reader): KerasLayerWeights[] {
  const root = reader.strings('', 'layer_names') ? '' : reader.isGroup('model_weights') ? 'model_weights' : null
  if (root === null) throw new WeightsError(`${reader.path} is not a Keras weights file: it has no layer_names attribute`)
  const out: KerasLayerWeights[] = []
  for (const layer of reader.strings(root, 'layer_names')!) {
    const group = root ? `${root}/${layer}` : layer
    if (!reader.isGroup(group)) throw new WeightsError(`${reader.path} lists layer "${layer}" in layer_names but has no group for it`)
    const names = reader.strings(group, 'weight_names') ?? []
    if (names.length === 0) continue
    const tensors = names.map((name) => {
      const data = reader.floats(`${group}/${name}`)
      if (!data) throw new WeightsError(`${reader.path}: layer "${layer}" lists the tensor "${name}" in weight_names, but the file has no such tensor`)
      return { name, ...data }
    })
    out.push({ layer, tensors })
  }
  return out
}

/** What `model` expects of one layer, for messages. */
function expected(layer: tf.layers.Layer): string {
  return layer.weights.map((w) => `${w.originalName.split('/').at(-1)} ${shapeText(w.shape)}`).join(', ')
}

function held(entry: KerasLayerWeights): string {
  return entry.tensors.map((t) => `${t.name} ${shapeText(t.shape)}`).join(', ')
}

const fits = (layer: tf.layers.Layer, entry: KerasLayerWeights): boolean =>
  layer.weights.length === entry.tensors.length && layer.weights.every((w, i) => shapeText(w.shape) === shapeText(entry.tensors[i].shape))

/** Sets every weight of `model` from `entries` (read from `file`), or throws before changing any. */
export function assignKerasWeights(model: tf.LayersModel, entries: KerasLayerWeights[], file: string): void {
  const layers = model.layers.filter((layer) => layer.weights.length > 0)
  if (layers.length !== entries.length) {
    const first = layers.findIndex((layer, i) => !entries[i] || !fits(layer, entries[i]))
    const where =
      first < 0
        ? `the file's extra layers start at "${entries[layers.length].layer}"`
        : entries[first]
          ? `the first that does not correspond: file layer "${entries[first].layer}" (${held(entries[first])}) against ${layers[first].name} (${expected(layers[first])})`
          : `the file ends before ${layers[first].name}`
    throw new WeightsError(`${file} holds weights for ${entries.length} layers but ${model.name} has ${layers.length} layers with weights; ${where}`)
  }
  const pairs: Array<[tf.LayerVariable, KerasTensor]> = []
  layers.forEach((layer, i) => {
    const entry = entries[i]
    if (layer.weights.length !== entry.tensors.length) {
      throw new WeightsError(
        `${file}: layer "${entry.layer}" holds ${entry.tensors.length} tensors (${held(entry)}) but ${layer.name} of ${model.name} needs ${layer.weights.length} (${expected(layer)})`
      )
    }
    layer.weights.forEach((variable, j) => {
      const tensor = entry.tensors[j]
      if (shapeText(variable.shape) !== shapeText(tensor.shape)) {
        throw new WeightsError(
          `${file}: tensor "${tensor.name}" of layer "${entry.layer}" has shape ${shapeText(tensor.shape)} but ${variable.originalName} of ${model.name} needs ${shapeText(variable.shape)}`
        )
      }
      pairs.push([variable, tensor])
    })
  })
  for (const [variable, tensor] of pairs) {
    const value = tf.tensor(tensor.values, tensor.shape, 'float32')
    variable.write(value)
    value.dispose()
  }
}

/** Reads `file` and sets every weight of `model` from it. */
export async function loadKerasWeights(model: tf.LayersModel, file: string): Promise<void> {
  const reader = await Hdf5Reader.open(file)
  try {
    assignKerasWeights(model, readKerasWeights(reader), file)
  } finally {
    reader.close()
  }
}
