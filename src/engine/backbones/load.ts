import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../backend'
import { backboneSpec, type BackboneSpec } from './registry'
import { checkTopologySizes } from '../model/model-json'
import { cacheDir, CorruptCacheError, ensureWeights, readVerified, removeCache, type WeightsOptions } from './weights'

export interface LoadedBackbone {
  spec: BackboneSpec
  /** The full Keras model, ImageNet classifier included, layers under their Keras names. */
  model: tf.LayersModel
}

export interface LoadOptions extends WeightsOptions {
  /** Told when a damaged cache entry is thrown away and fetched again. */
  onNotice?: (message: string) => void
}

export async function loadBackbone(id: string, options: LoadOptions = {}): Promise<LoadedBackbone> {
  const spec = backboneSpec(id)
  await initBackend()
  let files
  try {
    files = await readVerified(await ensureWeights(spec, options))
  } catch (error) {
    if (!(error instanceof CorruptCacheError)) throw error
    options.onNotice?.(`${error.message}: downloading ${spec.id} again`)
    await removeCache(spec, options.home)
    files = await readVerified(await ensureWeights(spec, options))
  }
  const { modelJson, weightData } = files
  // The cache is a folder anyone with access to the home could edit: no layer may ask for gigabytes.
  checkTopologySizes(modelJson.modelTopology, path.join(cacheDir(spec, options.home), 'model.json'))
  const weightSpecs = modelJson.weightsManifest.flatMap((group) => group.weights) as tf.io.WeightsManifestEntry[]
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology as tf.io.ModelArtifacts['modelTopology'], weightSpecs, weightData })
  )
  return { spec, model }
}
