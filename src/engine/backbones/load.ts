import fs from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../backend'
import { ensureKerasWeights, kerasCacheDir } from './keras-cache'
import { backboneSpec, type BackboneSpec } from './registry'
import { checkTopologySizes } from '../model/model-json'
import { CorruptCacheError, ensureWeights, readVerified, type WeightsOptions } from './weights'

export interface LoadedBackbone {
  spec: BackboneSpec
  /**
   * The Keras model, layers under their Keras names. TensorFlow.js backbones always come with
   * their ImageNet classifier; Keras .h5 backbones with it only when `includeTop` asked for it.
   */
  model: tf.LayersModel
}

export interface LoadOptions extends WeightsOptions {
  /** Told when a damaged cache entry is thrown away and fetched again. */
  onNotice?: (message: string) => void
  /** Keras' include_top: the ImageNet classifier is needed (classifying photos), not only features. */
  includeTop?: boolean
}

export function loadBackbone(id: string, options: LoadOptions = {}): Promise<LoadedBackbone> {
  return loadBackboneSpec(backboneSpec(id), options)
}

export async function loadBackboneSpec(spec: BackboneSpec, options: LoadOptions = {}): Promise<LoadedBackbone> {
  await initBackend()
  const includeTop = options.includeTop ?? false
  const ensure = (): Promise<string> => (spec.keras ? ensureKerasWeights(spec, includeTop, options) : ensureWeights(spec, options))
  const cached = kerasCacheDir(spec, spec.keras ? includeTop : false, options.home)
  let files
  try {
    files = await readVerified(await ensure())
  } catch (error) {
    if (!(error instanceof CorruptCacheError)) throw error
    options.onNotice?.(`${error.message}: downloading ${spec.id} again`)
    // The cache folder is ours (weights/<id> under the studio home): thrown away whole and fetched again.
    await fs.rm(cached, { recursive: true, force: true })
    files = await readVerified(await ensure())
  }
  const { modelJson, weightData } = files
  // The cache is a folder anyone with access to the home could edit: no layer may ask for gigabytes.
  checkTopologySizes(modelJson.modelTopology, path.join(cached, 'model.json'))
  const weightSpecs = modelJson.weightsManifest.flatMap((group) => group.weights) as tf.io.WeightsManifestEntry[]
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology as tf.io.ModelArtifacts['modelTopology'], weightSpecs, weightData })
  )
  return { spec, model }
}
