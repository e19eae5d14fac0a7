// Saved models: a TensorFlow.js layers model (model.json + weights.bin) that any TensorFlow.js
// program loads with tf.loadLayersModel, plus metadata.json saying how to feed it and what its
// outputs mean. The folder is built beside the target and swapped in with one rename, so a crash
// mid-save leaves the previous model untouched; checksums make a damaged copy fail loudly.
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { describeSchemaError, ModelMetadata } from '../../shared/protocol'
import { replaceDir, stagingDir } from '../util/atomic'
import { applyKerasBatchNormSemantics } from './batchnorm'

export const MODEL_FILE = 'model.json'
export const WEIGHTS_FILE = 'weights.bin'
export const METADATA_FILE = 'metadata.json'

export class ModelFileError extends Error {
  override name = 'ModelFileError'
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

/** Saves `model` with `metadata` (its `files` field is filled in here) into `dir`. */
export async function saveModel(model: tf.LayersModel, metadata: Omit<ModelMetadata, 'files'>, dir: string): Promise<void> {
  const staged = await stagingDir(dir)
  try {
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)))
        const modelJson = new TextEncoder().encode(
          JSON.stringify({
            format: 'layers-model',
            generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
            convertedBy: null,
            modelTopology: artifacts.modelTopology,
            weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }]
          })
        )
        await fs.writeFile(path.join(staged, MODEL_FILE), modelJson)
        await fs.writeFile(path.join(staged, WEIGHTS_FILE), weights)
        const files = [
          { name: MODEL_FILE, bytes: modelJson.byteLength, sha256: sha256(modelJson) },
          { name: WEIGHTS_FILE, bytes: weights.byteLength, sha256: sha256(weights) }
        ]
        await fs.writeFile(path.join(staged, METADATA_FILE), JSON.stringify({ ...metadata, files }, null, 2))
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } }
      })
    )
    await replaceDir(staged, dir)
  } catch (error) {
    await fs.rm(staged, { recursive: true, force: true })
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
    raw = JSON.parse(await fs.readFile(file, 'utf8'))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ModelFileError(
      code === 'ENOENT'
        ? `${dir} is not a Transfer Studio model: ${METADATA_FILE} is missing`
        : `${file} cannot be read: ${(error as Error).message}`
    )
  }
  const parsed = ModelMetadata.safeParse(raw)
  if (!parsed.success) throw new ModelFileError(`${file} is not valid model metadata: ${describeSchemaError(parsed.error)}`)
  return parsed.data
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const metadata = await readMetadata(dir)
  const contents = new Map<string, Buffer>()
  for (const file of metadata.files) {
    const full = path.join(dir, file.name)
    const data = await fs.readFile(full).catch(() => {
      throw new ModelFileError(`${full} is missing: the model folder is incomplete`)
    })
    if (data.byteLength !== file.bytes || sha256(data) !== file.sha256) {
      throw new ModelFileError(`${full} is damaged: it does not match the checksum in ${METADATA_FILE}`)
    }
    contents.set(file.name, data)
  }
  const json = JSON.parse(contents.get(MODEL_FILE)!.toString('utf8')) as tf.io.ModelJSON
  const weights = contents.get(WEIGHTS_FILE)!
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
