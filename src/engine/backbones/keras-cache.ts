// Official Keras weights, converted once into the weights cache: the .h5 file is downloaded and
// checked, its tensors are put into the architecture built here (by Keras' own load_weights
// order), and the result is saved as a TensorFlow.js layers model (model.json + weights.bin) with
// the same SHA-256 manifest as every other cache entry, so loading it later is loading any backbone.
import fs from 'node:fs/promises'
import path from 'node:path'
import { studioHome } from '../home'
import { writeLayersModel } from '../model/store'
import { replaceDir, stagingDir } from '../util/atomic'
import { ARCHITECTURES } from './applications'
import { downloadKerasFile, kerasFileUrl } from './keras-download'
import { loadKerasWeights } from './keras-weights'
import type { BackboneSpec } from './registry'
import { CACHE_MANIFEST, cacheDir, isComplete, readManifest, type CacheManifest, type WeightsOptions } from './weights'

/** The cache entry of a Keras backbone: without top under its id (what training uses), with top beside it. */
export function kerasCacheDir(spec: BackboneSpec, includeTop: boolean, home = studioHome()): string {
  return includeTop ? `${cacheDir(spec, home)}_top` : cacheDir(spec, home)
}

/** The cache folder of `spec` (with or without its top), downloading and converting first when needed. */
export async function ensureKerasWeights(spec: BackboneSpec, includeTop: boolean, options: WeightsOptions = {}): Promise<string> {
  if (!spec.keras) throw new Error(`${spec.id} has no Keras weights files`)
  const dir = kerasCacheDir(spec, includeTop, options.home)
  if (await isComplete(dir)) return dir
  const file = includeTop ? spec.keras.top : spec.keras.notop
  const h5 = await downloadKerasFile(spec, file, options)
  const model = ARCHITECTURES[spec.keras.architecture](includeTop)
  const staged = await stagingDir(dir)
  try {
    await loadKerasWeights(model, h5)
    const files = await writeLayersModel(model, staged, 'Transfer Studio, from the Keras .h5 weights')
    const manifest: CacheManifest = { backbone: spec.id, source: kerasFileUrl(file, options.mirror), files }
    await fs.writeFile(path.join(staged, CACHE_MANIFEST), JSON.stringify(manifest, null, 2))
    // The folder is ours by where it is (<home>/weights/<id>[_top]): only the engine writes there.
    await replaceDir(staged, dir, { owned: async () => null, accept: async () => (await readManifest(dir)) !== null })
  } catch (error) {
    await fs.rm(staged, { recursive: true, force: true })
    throw error
  } finally {
    model.dispose()
  }
  // Converted: the .h5 (which we downloaded) is no longer needed.
  await fs.rm(h5, { force: true })
  return dir
}
