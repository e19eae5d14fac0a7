// Keras model files in and out of the studio's model folders: an imported file becomes a saved
// model (model.json + weights + metadata.json keeping the input scaling the user named, since a
// Keras file does not record it); a saved model becomes a Keras HDF5 file.
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type * as tf from '@tensorflow/tfjs'
import { HeadConfig, type ModelMetadata, type PreprocessMode } from '../../shared/protocol'
import { initBackend } from '../backend'
import { studioHome } from '../home'
import { loadModel, METADATA_FILE, readMetadata, saveModel } from '../model/store'
import { APP_VERSION } from '../version'
import { writeKerasH5 } from './export'
import { KerasImportError, readKerasModel } from './import'

export interface KerasImportOptions {
  /** How pixels in 0..255 are scaled before the model sees them, as the model was trained. */
  preprocess: PreprocessMode
  /** Names of the outputs in order; "0", "1", … when not given. */
  labels?: string[]
  /** The to_json() architecture of a weights-only file. */
  architecture?: string
}

// Keras calls the last activation through many layer classes; each gives probabilities.
function endsInSoftmax(model: tf.LayersModel): boolean {
  const last = model.layers.at(-1)!
  const config = last.getConfig() as { activation?: string }
  return last.getClassName() === 'Softmax' || config.activation === 'softmax'
}

/**
 * Saving replaces the folder `out` whole; a folder that holds anything but a studio model is not
 * ours to replace.
 */
async function checkReplaceable(out: string): Promise<void> {
  const entries = await fs.readdir(out).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw new KerasImportError(`${out}: cannot be used for the model: ${error.message}`)
  })
  if (entries.length > 0 && !entries.includes(METADATA_FILE)) {
    throw new KerasImportError(`${out} already holds files and is not a Transfer Studio model folder: choose a new or empty folder`)
  }
}

/** A new folder for a model imported from `file`: <home>/models/<file's name>, numbered when taken. */
export async function importedModelDir(file: string, home = studioHome()): Promise<string> {
  const base = path.join(
    home,
    'models',
    path
      .basename(file)
      .replace(/\.(h5|hdf5|keras)$/i, '')
      .replace(/[^\w.-]+/g, '_') || 'keras-model'
  )
  for (let n = 1; ; n++) {
    const dir = n === 1 ? base : `${base}-${n}`
    if (!(await fs.stat(dir).catch(() => null))) return dir
  }
}

/** Imports the Keras file `file` as a studio model saved in `out`; returns its metadata. */
export async function importKerasModel(file: string, out: string, options: KerasImportOptions): Promise<ModelMetadata> {
  await initBackend()
  await checkReplaceable(out)
  const { model, format, kerasVersion } = await readKerasModel(file, { architecture: options.architecture })
  try {
    const refuse = (reason: string): never => {
      throw new KerasImportError(`${file}: ${reason}`)
    }
    if (model.inputs.length !== 1 || model.outputs.length !== 1)
      refuse(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; one of each is needed`)
    const [, height, width, channels] = model.inputs[0].shape
    if (model.inputs[0].shape.length !== 4 || channels !== 3 || !height || height !== width) {
      const grey = model.inputs[0].shape.length === 4 && channels === 1 ? ': it is a grayscale model (1 channel), and photos reach a model here as RGB' : ''
      refuse(`the model takes input of shape [${model.inputs[0].shape.map(String)}]; studio models take square RGB images, [null, size, size, 3]${grey}`)
    }
    const outputs = model.outputs[0].shape
    const classes = outputs.at(-1)
    if (outputs.length !== 2 || !classes || classes < 2)
      refuse(`the model's output has shape [${outputs.map(String)}]; a classifier with at least two classes is needed`)
    if (!endsInSoftmax(model)) refuse(`its last layer "${model.layers.at(-1)!.name}" is not a softmax, so its outputs are not class probabilities`)
    const labels = options.labels ?? Array.from({ length: classes! }, (_, i) => String(i))
    if (labels.length !== classes) refuse(`the model has ${classes} outputs but ${labels.length} labels were given`)
    const sha256 = createHash('sha256')
      .update(await fs.readFile(file))
      .digest('hex')
    const metadata: Omit<ModelMetadata, 'files'> = {
      format: 'transfer-studio-model',
      formatVersion: 1,
      appVersion: APP_VERSION,
      createdAt: new Date().toISOString(),
      labels,
      backbone: `keras:${path.basename(file)}`,
      preprocess: options.preprocess,
      inputSize: height!,
      head: HeadConfig.parse({}),
      freeze: { kind: 'layers', frozen: model.layers.filter((l) => !l.trainable).map((l) => l.name) },
      frozenLayers: model.layers.filter((l) => !l.trainable).map((l) => l.name),
      training: null,
      source: { kind: 'keras', file: path.resolve(file), format, kerasVersion, sha256 },
      metrics: { loss: null, acc: null, val_loss: null, val_acc: null, test_acc: null, epochs: 0 }
    }
    await saveModel(model, metadata, out)
    return await readMetadata(out)
  } finally {
    model.dispose()
  }
}

/** Where export-keras writes when not told: beside the TensorFlow.js model in its folder. */
export const KERAS_FILE = 'model.h5'

/** Writes the studio model in `modelDir` as the Keras HDF5 file `file`; returns the file's path. */
export async function exportKerasModel(modelDir: string, file = path.join(modelDir, KERAS_FILE)): Promise<string> {
  await initBackend()
  const { model } = await loadModel(modelDir)
  try {
    await writeKerasH5(model, file)
    return file
  } finally {
    model.dispose()
  }
}
