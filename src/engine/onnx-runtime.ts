// onnxruntime-node, loaded once on demand. It is a dependency, but its native library may still be
// missing or refuse to load on some machine: then callers get the reason and use tfjs-wasm.
export type Ort = typeof import('onnxruntime-node')

let loaded: Promise<Ort | string> | undefined

/** The onnxruntime-node module, or why it cannot be used here. */
export function loadOnnxRuntime(): Promise<Ort | string> {
  loaded ??= import('onnxruntime-node').then(
    (module) => (module as Ort & { default?: Ort }).default ?? module,
    (error: Error) => `onnxruntime-node could not be loaded: ${error.message.split('\n')[0]}`
  )
  return loaded
}

export function onnxDescription(runtime: Ort, threads: number): string {
  return `onnxruntime-node ${runtime.env.versions.node ?? ''} (CPU, ${threads} thread${threads === 1 ? '' : 's'})`
}
