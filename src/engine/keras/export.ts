// Writes a tfjs LayersModel as a Keras HDF5 model file, the layout `model.save('x.h5')` gives in
// tf.keras 2.x and that keras.models.load_model reads in Keras 2 and 3: root attributes
// keras_version, backend and model_config (JSON), and a model_weights group listing layer_names,
// with one group per layer listing its weight_names and holding <layer>/<weight>:0 datasets.
import fs from 'node:fs/promises'
import path from 'node:path'
import type * as tf from '@tensorflow/tfjs'
import { h5, type H5Group } from './h5'
import { KerasExportError, kerasTopology } from './export-config'

export { KerasExportError }

// The config and weight layout written are tf.keras 2.15's (the last Keras 2), which is what the
// loaders check this attribute against; the backend is what the weights' layout assumes
// (channels last, TensorFlow kernel order), as in every tf.keras file.
export const KERAS_VERSION = '2.15.0'
export const KERAS_BACKEND = 'tensorflow'

/** Keras 2's weight name: the variable's scoped name plus the ":0" of its tensor. */
const weightName = (variable: tf.LayerVariable): string => `${variable.originalName}:0`

/** Writes `model` to `file` (replaced only once the new file is complete). */
export async function writeKerasH5(model: tf.LayersModel, file: string): Promise<void> {
  let topology
  try {
    topology = kerasTopology(model.toJSON(null, false))
  } catch (error) {
    throw new KerasExportError(`${file}: ${(error as Error).message}`)
  }
  const { File } = await h5()
  const folder = path.dirname(file)
  if (!(await fs.stat(folder).catch(() => null))?.isDirectory()) throw new KerasExportError(`Could not write ${file}: the folder ${folder} does not exist`)
  // A Sequential model's input layer is implicit in Keras: it has no entry in the weights.
  const layers = model.layers.filter((layer) => !(topology.class_name === 'Sequential' && layer.getClassName() === 'InputLayer'))
  const staged = path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`)
  try {
    const out = new File(staged, 'w')
    try {
      out.create_attribute('keras_version', KERAS_VERSION)
      out.create_attribute('backend', KERAS_BACKEND)
      out.create_attribute('model_config', JSON.stringify({ ...topology, keras_version: KERAS_VERSION, backend: KERAS_BACKEND }))
      const weights = out.create_group('model_weights')
      weights.create_attribute('keras_version', KERAS_VERSION)
      weights.create_attribute('backend', KERAS_BACKEND)
      weights.create_attribute(
        'layer_names',
        layers.map((layer) => layer.name)
      )
      for (const layer of layers) writeLayer(groupAt(weights, layer.name), layer)
    } finally {
      out.close()
    }
    await fs.rename(staged, file)
  } catch (error) {
    await fs.rm(staged, { force: true })
    if (error instanceof KerasExportError) throw new KerasExportError(`${file}: ${error.message}`)
    throw new KerasExportError(`Could not write ${file}: ${(error as Error).message}`)
  }
}

function writeLayer(group: H5Group, layer: tf.layers.Layer): void {
  // Keras saves a layer's trainable weights, then the others (BatchNormalization's moving
  // statistics, or everything of a frozen layer), and its loader expects that order.
  const variables = [...layer.trainableWeights, ...layer.nonTrainableWeights]
  if (variables.length === 0) {
    // What h5py makes of Keras' empty list: a float64 array of length 0.
    group.create_attribute('weight_names', new Float64Array(0), [0], '<d')
    return
  }
  group.create_attribute('weight_names', variables.map(weightName))
  for (const variable of variables) {
    const parts = weightName(variable).split('/')
    const parent = groupAt(group, parts.slice(0, -1).join('/'))
    const values = variable.read().dataSync() as Float32Array
    parent.create_dataset({ name: parts.at(-1)!, data: values, shape: variable.shape as number[], dtype: '<f' })
  }
}

/**
 * The group at `name` below `parent`, made with every group on the way, as h5py does for Keras:
 * a name with slashes (DenseNet's `conv1/conv`, and every weight's `layer/kernel:0`) is a path
 * of nested groups in the file, and HDF5 makes none of them by itself.
 */
function groupAt(parent: H5Group, name: string): H5Group {
  let group = parent
  for (const part of name.split('/').filter(Boolean)) {
    const existing = group.get(part)
    group = existing && (existing as H5Group).type === 'Group' ? (existing as H5Group) : group.create_group(part)
  }
  return group
}
