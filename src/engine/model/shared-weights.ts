// Frozen layers keep the backbone's pretrained weights, byte for byte, in every run that froze them:
// a ResNet50 run used to leave 91 MB of them in its model folder (and again in its checkpoint).
// They are written once into a content-addressed folder of the studio home (named by their SHA-256)
// and each model folder holds a hard link to that file. Deleting a model folder removes only its
// link; the file stays while another folder links to it. Where a hard link cannot be made (another
// device, a file system without them) the model gets its own copy, so a save never fails for it.
import fs from 'node:fs/promises'
import path from 'node:path'
import type * as tf from '@tensorflow/tfjs'
import { writeFileAtomic, writeParts } from '../util/atomic'

export interface WeightGroup {
  specs: tf.io.WeightsManifestEntry[]
  /** The weights' bytes in order, as views of the encoded weights (not copied). */
  parts: Uint8Array[]
}

const BYTES_PER_VALUE = 4

/** The weight names of layers that do not train (all of a frozen nested model's too). */
export function frozenWeightNames(model: tf.LayersModel): Set<string> {
  const names = new Set<string>()
  const visit = (layer: tf.layers.Layer): void => {
    if (!layer.trainable) for (const weight of layer.weights) names.add(weight.originalName)
    else if ('layers' in layer) for (const inner of (layer as unknown as tf.LayersModel).layers) visit(inner)
  }
  for (const layer of model.layers) visit(layer)
  return names
}

/**
 * The saved weights in two groups, the frozen layers' and the rest, each in the order saved; null
 * when nothing is frozen (or nothing trains), where one file is all there is to write.
 */
export function splitFrozenWeights(
  model: tf.LayersModel,
  specs: tf.io.WeightsManifestEntry[],
  data: Uint8Array
): { frozen: WeightGroup; rest: WeightGroup } | null {
  const frozenNames = frozenWeightNames(model)
  const frozen: WeightGroup = { specs: [], parts: [] }
  const rest: WeightGroup = { specs: [], parts: [] }
  let offset = 0
  for (const spec of specs) {
    if (spec.dtype !== 'float32' && spec.dtype !== 'int32') return null
    const length = spec.shape.reduce((n, d) => n * d, 1) * BYTES_PER_VALUE
    const target = frozenNames.has(spec.name) ? frozen : rest
    target.specs.push(spec)
    target.parts.push(data.subarray(offset, offset + length))
    offset += length
  }
  if (offset !== data.byteLength || frozen.specs.length === 0 || rest.specs.length === 0) return null
  return { frozen, rest }
}

/**
 * Puts `parts` (whose bytes' SHA-256 is `digest`) at `target` as a hard link to
 * `<store>/<digest>.bin`, writing that file first when the store lacks it; a copy where linking fails.
 */
export async function shareFrozenWeights(parts: readonly Uint8Array[], digest: string, store: string, target: string): Promise<void> {
  const byteLength = parts.reduce((n, part) => n + part.byteLength, 0)
  const shared = path.join(store, `${digest}.bin`)
  try {
    await fs.mkdir(store, { recursive: true })
    const stat = await fs.lstat(shared).catch(() => null)
    // Anything else under that name (a link, a short file) is not ours to trust: written anew.
    if (!stat || !stat.isFile() || stat.size !== byteLength) {
      await writeFileAtomic(shared, parts)
      // Read-only: an edit through one model folder would change every folder linking to it.
      await fs.chmod(shared, 0o444)
    }
    await fs.link(shared, target)
  } catch {
    // No store, or no hard links between the store and the model folder: a copy of its own.
    await fs.rm(target, { force: true })
    await writeParts(target, parts)
  }
}

/** Unlinked this long, a shared file is no longer being linked into a model being saved. */
const PRUNE_AFTER_MS = 10 * 60 * 1000

/**
 * Removes the shared files no model folder links to any more (only the store's own name is left),
 * once they have been unlinked a while; returns how many bytes that freed.
 */
export async function pruneSharedWeights(store: string, now = Date.now()): Promise<number> {
  const names = await fs.readdir(store).catch(() => [] as string[])
  let freed = 0
  for (const name of names) {
    if (!/^[0-9a-f]{64}\.bin$/.test(name)) continue
    const file = path.join(store, name)
    const stat = await fs.lstat(file).catch(() => null)
    // ctime changes when a link is made or removed: a file linked a moment ago is left alone.
    if (!stat || !stat.isFile() || stat.nlink > 1 || now - stat.ctimeMs < PRUNE_AFTER_MS) continue
    await fs.rm(file, { force: true })
    freed += stat.size
  }
  return freed
}

/** Where a studio home keeps the shared weight files. */
export function sharedWeightsDir(home: string): string {
  return path.join(home, 'shared-weights')
}
