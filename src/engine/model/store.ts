// Saved models: a TensorFlow.js layers model (model.json + weights.bin, and frozen.bin when the
// frozen layers' weights are shared) that any TensorFlow.js program loads with tf.loadLayersModel,
// plus metadata.json saying how to feed it and what its outputs mean. The folder is built beside the target and swapped in with one rename, so a crash
// mid-save leaves the previous model untouched; checksums make a damaged copy fail loudly.
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { describeSchemaError, ModelMetadata, type FileRecord } from '../../shared/protocol'
import { NotOursError, refusalToReplace, replaceDir, stagingDir, unexpectedEntries, writeParts } from '../util/atomic'
import { shareFrozenWeights, splitFrozenWeights } from './shared-weights'
import { readJsonFile, readRegularFile, UnsafeFileError } from '../util/safe-read'
import { applyKerasBatchNormSemantics } from './batchnorm'
import { checkModelJson } from './model-json'

export const MODEL_FILE = 'model.json'
export const WEIGHTS_FILE = 'weights.bin'
/** The frozen layers' weights, a hard link to a file shared by every model with the same ones. */
export const FROZEN_FILE = 'frozen.bin'
export const METADATA_FILE = 'metadata.json'

export class ModelFileError extends Error {
  override name = 'ModelFileError'
}

/** metadata.json is small: labels, settings and metrics. */
const MAX_METADATA_BYTES = 16 * 1024 * 1024
/** The files a saved model consists of; a folder holding anything else is not only ours. */
const MODEL_FILES = new Set([MODEL_FILE, FROZEN_FILE, WEIGHTS_FILE, METADATA_FILE])

/**
 * Why `dir` is not a saved model of ours that saving may replace, or null when it is: its
 * metadata.json must be valid and it may hold nothing but the files we write.
 */
export async function notAModelFolder(dir: string): Promise<string | null> {
  try {
    await readMetadata(dir)
  } catch (error) {
    return (error as Error).message
  }
  return unexpectedEntries(dir, MODEL_FILES)
}

/**
 * Refuses, before any work is done, a destination that saving would have to replace but may not:
 * an existing file, a link, or a non-empty folder that is not one of our saved models.
 */
export async function checkModelDestination(dir: string): Promise<void> {
  const refusal = await refusalToReplace(dir, notAModelFolder)
  if (refusal) {
    throw new ModelFileError(
      `Will not save the model to ${dir}: saving replaces the folder, and ${refusal}. Choose a new or empty folder, or a model folder saved earlier.`
    )
  }
}

const sha256 = (data: Uint8Array | readonly Uint8Array[]): string => {
  const hash = createHash('sha256')
  for (const part of data instanceof Uint8Array ? [data] : data) hash.update(part)
  return hash.digest('hex')
}

export interface WriteOptions {
  /**
   * A folder of content-addressed weight files (in the studio home): the frozen layers' weights go
   * to frozen.bin, a hard link to the file there with the same contents, so runs that froze the same
   * backbone layers keep one copy of them between them. Without it everything is in weights.bin.
   */
  sharedWeights?: string
}

/**
 * Writes `model` into `dir` as a TensorFlow.js layers model (model.json + weights.bin, and
 * frozen.bin with WriteOptions.sharedWeights) and returns each file's size and SHA-256. Saved
 * models and converted backbone caches are both written here.
 */
export async function writeLayersModel(
  model: tf.LayersModel,
  dir: string,
  convertedBy: string | null = null,
  options: WriteOptions = {}
): Promise<FileRecord[]> {
  let files: FileRecord[] = []
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      // One buffer as tfjs encodes it (join() would copy even that one).
      const weightData = artifacts.weightData ?? new ArrayBuffer(0)
      const all = new Uint8Array(weightData instanceof ArrayBuffer ? weightData : tf.io.CompositeArrayBuffer.join(weightData))
      const specs = artifacts.weightSpecs ?? []
      const split = options.sharedWeights ? splitFrozenWeights(model, specs, all) : null
      // tf.loadLayersModel reads the groups in order and matches weights by name.
      const groups = split
        ? [
            { file: FROZEN_FILE, ...split.frozen },
            { file: WEIGHTS_FILE, ...split.rest }
          ]
        : [{ file: WEIGHTS_FILE, specs, parts: [all] }]
      const modelJson = new TextEncoder().encode(
        JSON.stringify({
          format: 'layers-model',
          generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
          convertedBy,
          modelTopology: artifacts.modelTopology,
          weightsManifest: groups.map((g) => ({ paths: [g.file], weights: g.specs }))
        })
      )
      await fs.writeFile(path.join(dir, MODEL_FILE), modelJson)
      files = [{ name: MODEL_FILE, bytes: modelJson.byteLength, sha256: sha256(modelJson) }]
      for (const group of groups) {
        // Written and hashed part by part: joining the parts copied the whole model again.
        const digest = sha256(group.parts)
        if (group.file === FROZEN_FILE) await shareFrozenWeights(group.parts, digest, options.sharedWeights!, path.join(dir, FROZEN_FILE))
        else await writeParts(path.join(dir, group.file), group.parts)
        files.push({ name: group.file, bytes: group.parts.reduce((n, part) => n + part.byteLength, 0), sha256: digest })
      }
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: all.byteLength } }
    })
  )
  return files
}

export async function saveModel(model: tf.LayersModel, metadata: Omit<ModelMetadata, 'files'>, dir: string, options: WriteOptions = {}): Promise<void> {
  const staged = await stagingDir(dir)
  try {
    const files = await writeLayersModel(model, staged, null, options)
    await fs.writeFile(path.join(staged, METADATA_FILE), JSON.stringify({ ...metadata, files }, null, 2))
    await replaceDir(staged, dir, { owned: notAModelFolder })
  } catch (error) {
    await fs.rm(staged, { recursive: true, force: true })
    if (error instanceof NotOursError) throw new ModelFileError(`Will not save the model to ${dir}: ${error.message}`)
    throw new ModelFileError(`Could not save the model to ${dir}: ${(error as Error).message}`)
  }
}

export interface LoadedModel {
  model: tf.LayersModel
  metadata: ModelMetadata
}

export async function readMetadata(dir: string): Promise<ModelMetadata> {
  const file = path.join(dir, METADATA_FILE)
  let raw: unknown
  try {
    raw = await readJsonFile(file, MAX_METADATA_BYTES)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ModelFileError(
      code === 'ENOENT'
        ? `${dir} is not a Transfer Studio model: ${METADATA_FILE} is missing`
        : code === 'ENOTDIR'
          ? `${dir} is not a folder`
          : error instanceof UnsafeFileError
            ? `${file} cannot be used: ${error.reason}`
            : `${file} cannot be read: ${(error as Error).message}`
    )
  }
  const parsed = ModelMetadata.safeParse(raw)
  if (!parsed.success) throw new ModelFileError(`${file} is not valid model metadata: ${describeSchemaError(parsed.error)}`)
  return parsed.data
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const metadata = await readMetadata(dir)
  const metadataFile = path.join(dir, METADATA_FILE)
  const names = metadata.files.map((f) => f.name)
  const layout = names.length === 3 ? [MODEL_FILE, FROZEN_FILE, WEIGHTS_FILE] : [MODEL_FILE, WEIGHTS_FILE]
  if (names.length !== new Set(names).size || names.length !== layout.length || !layout.every((n) => names.includes(n))) {
    throw new ModelFileError(`${metadataFile}: files must name exactly ${MODEL_FILE} and ${WEIGHTS_FILE} (and ${FROZEN_FILE}), not ${names.join(', ')}`)
  }
  const contents = new Map<string, Buffer>()
  for (const file of metadata.files) {
    // Names are plain (the schema says so) and fixed: the file is in this folder, and a link,
    // a FIFO or a device there is refused; its size is checked before a byte is read.
    const full = path.join(dir, file.name)
    const data = await readRegularFile(full, { maxBytes: file.bytes, expectedBytes: file.bytes }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw new ModelFileError(`${full} is missing: the model folder is incomplete`)
      if (error instanceof UnsafeFileError) {
        throw new ModelFileError(
          error.kind === 'size-differs' ? `${full} is damaged: it ${error.reason} in ${METADATA_FILE}` : `${full} cannot be used: ${error.reason}`
        )
      }
      throw new ModelFileError(`${full} cannot be read: ${error.message}`)
    })
    if (sha256(data) !== file.sha256) {
      throw new ModelFileError(`${full} is damaged: it does not match the checksum in ${METADATA_FILE}`)
    }
    contents.set(file.name, data)
  }
  const weightFiles = new Map([...contents].filter(([name]) => name !== MODEL_FILE).map(([name, data]) => [name, data.byteLength]))
  const json = checkModelJson(contents.get(MODEL_FILE)!, path.join(dir, MODEL_FILE), weightFiles)
  // The weight files in the manifest's order, as one buffer (checkModelJson matched each to its group).
  const weights = Buffer.concat(json.weightsManifest.map((group) => contents.get(group.paths[0])!))
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer
    })
  )
  const outputs = model.outputs[0].shape.at(-1)
  if (outputs !== metadata.labels.length) {
    model.dispose()
    throw new ModelFileError(`${dir}: the model has ${outputs} outputs but ${METADATA_FILE} names ${metadata.labels.length} classes`)
  }
  applyKerasBatchNormSemantics(model.layers)
  return { model, metadata }
}
