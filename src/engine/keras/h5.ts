// HDF5 through h5wasm (HDF5's own C library in WebAssembly; its Node build reads and writes the
// host filesystem directly). Only what Keras files need: string attributes, float32 datasets.
// (src/engine/backbones has its own few lines of h5wasm setup for weights files; the two are
// kept apart so neither feature depends on the other's folder.)
import fs from 'node:fs'
import type * as H5 from 'h5wasm'

type H5Wasm = typeof import('h5wasm')
export type H5File = H5.File
export type H5Group = H5.Group
export type H5Dataset = H5.Dataset

let loaded: Promise<H5Wasm> | null = null

/** The h5wasm module, loaded once. */
export function h5(): Promise<H5Wasm> {
  loaded ??= (async () => {
    // Emscripten decides it runs in a browser when `navigator` exists, which it does in Electron
    // and in Node 21+; its Node build must see no navigator while it starts (h5wasm's README).
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'navigator')
    if (descriptor?.configurable) Object.defineProperty(globalThis, 'navigator', { value: undefined, configurable: true })
    try {
      const module = (await import('h5wasm/node')) as unknown as H5Wasm
      await module.ready
      return module
    } finally {
      if (descriptor?.configurable) Object.defineProperty(globalThis, 'navigator', descriptor)
    }
  })()
  return loaded
}

export class H5FormatError extends Error {
  override name = 'ModelFileError'
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]

/** Whether `file` starts like an HDF5 file (the superblock may also sit at 512, 1024, …; Keras' never does). */
export function looksLikeHdf5(file: string): boolean {
  const head = Buffer.alloc(SIGNATURE.length)
  const fd = fs.openSync(file, 'r')
  try {
    fs.readSync(fd, head, 0, head.length, 0)
  } finally {
    fs.closeSync(fd)
  }
  return SIGNATURE.every((byte, i) => head[i] === byte)
}

/** Opens `file` for reading, with an error naming it when it is missing or not HDF5. */
export async function openForReading(file: string): Promise<H5File> {
  const { File } = await h5()
  if (!fs.existsSync(file)) throw new H5FormatError(`${file}: no such file`)
  if (!looksLikeHdf5(file)) throw new H5FormatError(`${file}: not an HDF5 file (it does not start with the HDF5 signature)`)
  try {
    return new File(file, 'r')
  } catch (error) {
    throw new H5FormatError(`${file}: HDF5 cannot open it: ${(error as Error).message}`)
  }
}

export function isGroup(entity: unknown): entity is H5Group {
  return typeof entity === 'object' && entity !== null && (entity as { type?: unknown }).type === 'Group'
}

export function isDataset(entity: unknown): entity is H5Dataset {
  return typeof entity === 'object' && entity !== null && (entity as { type?: unknown }).type === 'Dataset'
}

/** A string attribute (fixed or variable length), or null when absent. */
export function stringAttribute(node: H5Group | H5Dataset, name: string): string | null {
  const attribute = node.attrs[name]
  if (!attribute) return null
  const value = attribute.value
  if (typeof value === 'string') return value
  if (value instanceof Uint8Array) return new TextDecoder().decode(value)
  return null
}

/**
 * A list-of-strings attribute such as `layer_names` or `weight_names`. Keras writes an empty list
 * as an empty float64 array, and one-element lists can come back as a plain string.
 */
export function stringListAttribute(node: H5Group | H5Dataset, name: string): string[] | null {
  const attribute = node.attrs[name]
  if (!attribute) return null
  const value = attribute.value
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : String(v)))
  if (ArrayBuffer.isView(value) && (value as unknown as { length: number }).length === 0) return []
  return null
}

/** A dataset's values as float32 with its shape. */
export function readFloat32(dataset: H5Dataset): { values: Float32Array; shape: number[] } {
  const shape = dataset.shape ?? []
  const raw = dataset.value
  let values: Float32Array
  if (raw instanceof Float32Array) values = raw
  else if (raw instanceof Float64Array || raw instanceof Int32Array || raw instanceof Uint8Array) values = Float32Array.from(raw)
  else if (typeof raw === 'number') values = Float32Array.of(raw)
  else throw new H5FormatError(`${dataset.path}: expected numbers, found ${dataset.dtype}`)
  return { values, shape }
}
