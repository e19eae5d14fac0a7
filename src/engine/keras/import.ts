// Reads a Keras model file into a tfjs LayersModel: the HDF5 whole-model file of Keras 2 (and the
// "legacy" HDF5 Keras 3 still writes), a save_weights() file with its to_json() architecture, and
// Keras 3's `.keras` zip. Weights go to layers the way Keras' own loader places them: by layer
// name, then within a layer by weight name where the names say it, else in Keras' order.
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { isDataset, isGroup, openForReading, readFloat32, stringAttribute, stringListAttribute, type H5Group } from './h5'
import { KerasImportError, normalizeTopology, type Topology } from './import-config'
import { readZipEntries } from './zip'

export { KerasImportError }

export type KerasFileFormat = 'keras-h5' | 'keras3-legacy-h5' | 'keras-weights-h5+json' | 'keras3-zip'

export interface ImportedKeras {
  model: tf.LayersModel
  format: KerasFileFormat
  /** As the file records it (null when it does not). */
  kerasVersion: string | null
}

export interface KerasReadOptions {
  /** The `model.to_json()` file that goes with a weights-only HDF5 file. */
  architecture?: string
}

interface FileWeight {
  /** As the file names it (Keras' weight name, or the index in a `.keras` file). */
  name: string
  values: Float32Array
  shape: number[]
}

const ZIP_SIGNATURE = 0x04034b50

export async function readKerasModel(file: string, options: KerasReadOptions = {}): Promise<ImportedKeras> {
  const head = await fs.readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new KerasImportError(`${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
  })
  if (head.length >= 4 && head.readUInt32LE(0) === ZIP_SIGNATURE) return readKerasZip(file, head)
  return readKerasH5(file, options)
}

async function readKerasH5(file: string, options: KerasReadOptions): Promise<ImportedKeras> {
  const h5file = await openForReading(file)
  try {
    const config = stringAttribute(h5file, 'model_config')
    let topology: Topology
    let weights: H5Group
    let format: KerasFileFormat
    let kerasVersion = stringAttribute(h5file, 'keras_version')
    if (config !== null) {
      topology = normalizeTopology(parseJson(config, `${file} (model_config)`), file)
      const group = h5file.get('model_weights')
      if (!isGroup(group)) throw new KerasImportError(`${file}: has a model_config but no model_weights group`)
      weights = group
      format = kerasVersion?.startsWith('3.') ? 'keras3-legacy-h5' : 'keras-h5'
    } else if (stringListAttribute(h5file, 'layer_names')) {
      if (!options.architecture) {
        throw new KerasImportError(`${file}: holds weights only (model.save_weights); give the model.to_json() file that describes its architecture`)
      }
      const json = await fs.readFile(options.architecture, 'utf8').catch((error: Error) => {
        throw new KerasImportError(`${options.architecture}: cannot be read: ${error.message}`)
      })
      const parsed = parseJson(json, options.architecture) as { keras_version?: string }
      topology = normalizeTopology(parsed, options.architecture)
      weights = h5file
      format = 'keras-weights-h5+json'
      kerasVersion ??= parsed.keras_version ?? null
    } else {
      throw new KerasImportError(`${file}: not a Keras model file (no model_config attribute and no layer_names attribute)`)
    }
    const model = await buildModel(topology, file)
    try {
      assignWeights(model, h5LayerWeights(weights, file), file)
    } catch (error) {
      model.dispose()
      throw error
    }
    return { model, format, kerasVersion }
  } finally {
    h5file.close()
  }
}

/** Every layer's weights in a Keras 2 layout group (`layer_names`, then `weight_names` per layer). */
function h5LayerWeights(group: H5Group, file: string): Map<string, FileWeight[]> {
  const layers = new Map<string, FileWeight[]>()
  for (const layerName of stringListAttribute(group, 'layer_names') ?? []) {
    const layerGroup = group.get(layerName)
    if (!isGroup(layerGroup)) throw new KerasImportError(`${file}: layer_names lists "${layerName}" but the file has no group for it`)
    const names = stringListAttribute(layerGroup, 'weight_names')
    if (names === null) throw new KerasImportError(`${file}: the weights of layer "${layerName}" have no weight_names attribute`)
    layers.set(
      layerName,
      names.map((name) => {
        const dataset = layerGroup.get(name)
        if (!isDataset(dataset)) throw new KerasImportError(`${file}: weight "${name}" of layer "${layerName}" is missing`)
        return { name, ...readFloat32(dataset) }
      })
    )
  }
  return layers
}

async function readKerasZip(file: string, bytes: Buffer): Promise<ImportedKeras> {
  const entries = readZipEntries(bytes, file)
  const entry = (name: string): Buffer => {
    const found = entries.get(name)
    if (!found) throw new KerasImportError(`${file}: not a Keras 3 .keras file (it has no ${name})`)
    return found
  }
  const metadata = parseJson(entry('metadata.json').toString('utf8'), `${file} (metadata.json)`) as { keras_version?: string }
  const topology = normalizeTopology(parseJson(entry('config.json').toString('utf8'), `${file} (config.json)`), file)
  // h5wasm reads HDF5 from the filesystem: the inner weights file is unpacked beside the others' temp files.
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'transfer-studio-keras-'))
  const weightsFile = path.join(scratch, 'model.weights.h5')
  try {
    await fs.writeFile(weightsFile, entry('model.weights.h5'))
    const h5file = await openForReading(weightsFile)
    try {
      const model = await buildModel(topology, file)
      try {
        assignWeights(model, zipLayerWeights(h5file), file)
      } catch (error) {
        model.dispose()
        throw error
      }
      return { model, format: 'keras3-zip', kerasVersion: metadata.keras_version ?? null }
    } finally {
      h5file.close()
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true })
  }
}

/** Keras 3 keeps a layer's variables at layers/<name>/vars/0, 1, … in the layer's own order. */
function zipLayerWeights(root: H5Group): Map<string, FileWeight[]> {
  const layers = new Map<string, FileWeight[]>()
  const group = root.get('layers')
  if (!isGroup(group)) return layers
  for (const name of group.keys()) {
    const vars = group.get(`${name}/vars`)
    if (!isGroup(vars)) continue
    const keys = vars.keys().sort((a, b) => Number(a) - Number(b))
    if (keys.length === 0) continue
    layers.set(
      name,
      keys.map((key) => {
        const dataset = vars.get(key)
        if (!isDataset(dataset)) throw new KerasImportError(`${vars.path}/${key} is not a dataset`)
        return { name: key, ...readFloat32(dataset) }
      })
    )
  }
  // A nested model's layers sit deeper (layers/<model>/layers/…): assignWeights reports them missing.
  return layers
}

async function buildModel(topology: Topology, file: string): Promise<tf.LayersModel> {
  try {
    return await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON)
  } catch (error) {
    throw new KerasImportError(`${file}: TensorFlow.js cannot build the model: ${(error as Error).message.split('\n')[0]}`)
  }
}

/** The name a weight has inside its layer, without Keras 2's ":0". */
const weightKey = (name: string): string => name.replace(/:\d+$/, '')

/**
 * Which of `targets` each file weight goes to: by name when every file name ends with exactly one
 * target's name (Keras 2 "conv2d/kernel:0", Keras 3 legacy "sequential/conv2d/kernel", nested
 * models' "conv1/conv/kernel:0"), else in Keras' saving order (trainable weights, then the rest).
 */
function placement(layer: tf.layers.Layer, stored: FileWeight[]): tf.LayerVariable[] {
  const targets = layer.weights
  const byName = stored.map((w) => {
    const key = weightKey(w.name)
    const hits = targets.filter((t) => key === t.originalName || key.endsWith(`/${t.originalName}`))
    return hits.length === 1 ? hits[0] : null
  })
  if (byName.every((t) => t !== null) && new Set(byName).size === byName.length) return byName as tf.LayerVariable[]
  return [...layer.trainableWeights, ...layer.nonTrainableWeights]
}

function assignWeights(model: tf.LayersModel, stored: Map<string, FileWeight[]>, file: string): void {
  const withWeights = model.layers.filter((layer) => layer.weights.length > 0)
  const known = new Set(model.layers.map((layer) => layer.name))
  for (const [name, weights] of stored) {
    if (!known.has(name) && weights.length > 0) throw new KerasImportError(`${file}: has weights for a layer "${name}" that the model does not have`)
  }
  for (const layer of withWeights) {
    const weights = stored.get(layer.name)
    const where = `layer "${layer.name}" (${layer.getClassName()})`
    if (!weights) throw new KerasImportError(`${file}: has no weights for ${where}`)
    if (weights.length !== layer.weights.length) {
      throw new KerasImportError(`${file}: ${where} has ${layer.weights.length} weights but the file holds ${weights.length} for it`)
    }
    const targets = placement(layer, weights)
    const values = new Map<tf.LayerVariable, tf.Tensor>()
    weights.forEach((weight, i) => {
      const target = targets[i]
      if (weight.shape.join('x') !== target.shape.join('x')) {
        throw new KerasImportError(`${file}: weight "${weight.name}" of ${where} has shape [${weight.shape}], the layer expects [${target.shape}]`)
      }
      values.set(target, tf.tensor(weight.values, weight.shape))
    })
    const ordered = layer.weights.map((w) => values.get(w)!)
    layer.setWeights(ordered)
    tf.dispose(ordered)
  }
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new KerasImportError(`${source}: not valid JSON: ${(error as Error).message}`)
  }
}
