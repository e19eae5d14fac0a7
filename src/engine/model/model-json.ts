// A saved model's model.json, checked before TensorFlow.js builds anything from it: building a
// layer allocates its weights, so an edited layer size or weight shape would otherwise ask for
// gigabytes before any check of ours ran. Our models are far inside every limit here.
import type * as tf from '@tensorflow/tfjs'
import { z } from 'zod'
import { describeSchemaError, MAX_LAYERS, MAX_PARAMETERS } from '../../shared/protocol'

/** Largest whole number a layer's settings may hold (units, filters, shapes; ResNet50 tops out at 2048). */
export const MAX_TOPOLOGY_INTEGER = 65_536
/** Settings that are whole numbers without sizing anything. */
const UNSIZED_KEYS = new Set(['seed'])
const MAX_NESTING = 64

const BYTES_PER_VALUE = 4

const WeightSpec = z
  .object({
    name: z.string().max(500),
    shape: z.array(z.number().int().min(0).max(MAX_PARAMETERS)).max(8),
    dtype: z.enum(['float32', 'int32'])
  })
  .passthrough()

const SavedModelJson = z
  .object({
    modelTopology: z.object({ config: z.object({ layers: z.array(z.unknown()).max(MAX_LAYERS) }).passthrough() }).passthrough(),
    weightsManifest: z
      // One group, or two when the frozen layers' weights are a shared file of their own.
      .array(z.object({ paths: z.array(z.string().max(255)).length(1), weights: z.array(WeightSpec).max(MAX_LAYERS * 4) }))
      .min(1)
      .max(2)
  })
  .passthrough()

export class ModelJsonError extends Error {
  override name = 'ModelFileError'
}

/**
 * The parsed model.json, once its layer count and every size in it are sane and its manifest names
 * each of `weightFiles` (name → size in bytes) once, with as many weights as that file holds.
 */
export function checkModelJson(bytes: Uint8Array, file: string, weightFiles: ReadonlyMap<string, number>): tf.io.ModelJSON {
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (error) {
    throw new ModelJsonError(`${file} is not valid JSON (${(error as Error).message})`)
  }
  const parsed = SavedModelJson.safeParse(raw)
  if (!parsed.success) throw new ModelJsonError(`${file} is not a TensorFlow.js layers model we saved: ${describeSchemaError(parsed.error)}`)
  checkTopologySizes(parsed.data.modelTopology, file)
  const manifest = parsed.data.weightsManifest
  const named = manifest.map((group) => group.paths[0])
  if (named.length !== weightFiles.size || new Set(named).size !== named.length || !named.every((name) => weightFiles.has(name))) {
    throw new ModelJsonError(`${file}: weightsManifest names ${named.join(', ')}, but the model's weight files are ${[...weightFiles.keys()].join(', ')}`)
  }
  let values = 0
  for (const group of manifest) {
    let groupValues = 0
    for (const weight of group.weights) {
      groupValues += weight.shape.reduce((n, d) => n * d, 1)
      if (values + groupValues > MAX_PARAMETERS) throw new ModelJsonError(`${file}: weightsManifest: more than ${MAX_PARAMETERS} parameters in all`)
    }
    values += groupValues
    const fileBytes = weightFiles.get(group.paths[0])!
    if (groupValues * BYTES_PER_VALUE !== fileBytes) {
      throw new ModelJsonError(
        `${file}: weightsManifest describes ${groupValues * BYTES_PER_VALUE} bytes of weights in ${group.paths[0]}, but that file holds ${fileBytes}`
      )
    }
  }
  return parsed.data as unknown as tf.io.ModelJSON
}

/** Refuses a topology (any model.json's, a backbone's too) holding a layer size or shape above the limit. */
export function checkTopologySizes(topology: unknown, file: string): void {
  const oversized = findOversized(topology, 'modelTopology', 0)
  if (oversized) throw new ModelJsonError(`${file}: ${oversized}`)
}

/** The first whole number in the topology above the limit (or nesting too deep), as "where: what". */
function findOversized(value: unknown, where: string, depth: number): string | null {
  if (depth > MAX_NESTING) return `${where}: nested more than ${MAX_NESTING} deep`
  if (typeof value === 'number') {
    return Number.isInteger(value) && Math.abs(value) > MAX_TOPOLOGY_INTEGER ? `${where}: ${value} is larger than ${MAX_TOPOLOGY_INTEGER}` : null
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findOversized(value[i], `${where}.${i}`, depth + 1)
      if (found) return found
    }
    return null
  }
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (UNSIZED_KEYS.has(key)) continue
      const found = findOversized(inner, `${where}.${key}`, depth + 1)
      if (found) return found
    }
  }
  return null
}
