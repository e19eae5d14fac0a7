// Reading HDF5 files (Keras' .h5) through h5wasm: HDF5's own C library compiled to WebAssembly,
// reading the host file system directly in Node (no copy of the file in memory). A generic
// helper: groups, string-list attributes and float datasets by path, nothing Keras-specific.
import fs from 'node:fs'
import { Dataset, File as H5File, Group, ready } from 'h5wasm/node'

export class Hdf5Error extends Error {
  override name = 'WeightsError'
}

export interface FloatDataset {
  shape: number[]
  values: Float32Array
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])

export class Hdf5Reader {
  private constructor(
    private readonly file: H5File,
    readonly path: string
  ) {}

  static async open(file: string): Promise<Hdf5Reader> {
    // h5wasm prints HDF5's diagnostics on a bad file; check the signature first for a clear error.
    const head = Buffer.alloc(8)
    const fd = await fs.promises.open(file, 'r').catch(() => {
      throw new Hdf5Error(`${file} does not exist or cannot be read`)
    })
    try {
      await fd.read(head, 0, 8, 0)
    } finally {
      await fd.close()
    }
    if (!head.equals(HDF5_SIGNATURE)) throw new Hdf5Error(`${file} is not an HDF5 file`)
    await ready
    return new Hdf5Reader(new H5File(file, 'r'), file)
  }

  close(): void {
    this.file.close()
  }

  /** The entity at `path` ("a/b/c", relative to the root), or null; walks key by key so a missing name makes no HDF5 noise. */
  private entity(path: string): Group | Dataset | null {
    let node: Group | Dataset = this.file
    for (const part of path.split('/').filter(Boolean)) {
      if (!(node instanceof Group) || !node.keys().includes(part)) return null
      const next = node.get(part)
      if (!(next instanceof Group) && !(next instanceof Dataset)) return null
      node = next
    }
    return node
  }

  isGroup(path: string): boolean {
    return this.entity(path) instanceof Group
  }

  /**
   * A list-of-strings attribute of the group at `path`, or null when absent. HDF5 attributes are
   * limited to 64 KiB, so Keras splits long lists into `name0`, `name1`, …: those are joined.
   */
  strings(path: string, name: string): string[] | null {
    const group = this.entity(path)
    if (!group) return null
    const attrs = group.attrs
    const read = (key: string): string[] => {
      const value = attrs[key].value
      const list = Array.isArray(value) ? value : value === null ? [] : [value]
      return list.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v)))
    }
    if (name in attrs) return read(name)
    if (!(`${name}0` in attrs)) return null
    const out: string[] = []
    for (let chunk = 0; `${name}${chunk}` in attrs; chunk++) out.push(...read(`${name}${chunk}`))
    return out
  }

  /** A float dataset as float32, or null when there is no dataset at `path`. */
  floats(path: string): FloatDataset | null {
    const dataset = this.entity(path)
    if (!(dataset instanceof Dataset)) return null
    const value = dataset.value
    if (!(value instanceof Float32Array || value instanceof Float64Array)) {
      throw new Hdf5Error(`${this.path}: ${path} holds ${JSON.stringify(dataset.dtype)} values, not floating point numbers`)
    }
    return { shape: dataset.shape ?? [], values: value instanceof Float32Array ? value : Float32Array.from(value) }
  }
}
