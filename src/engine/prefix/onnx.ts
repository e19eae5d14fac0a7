// The frozen prefix on onnxruntime-node: native, multi-threaded CPU kernels from the npm package
// itself (no download at install), 4 to 12 times tfjs-wasm's throughput on these backbones here
// (bench/). Optional: when the package or its library cannot load, callers use the wasm runners.
import type { InferenceSession } from 'onnxruntime-node'
import { exportOnnx, ONNX_INPUT, ONNX_OUTPUT } from '../model/onnx-export'
import { loadOnnxRuntime, onnxDescription, type Ort } from '../onnx-runtime'
import type { PrefixRunner, PrefixSpec } from './runner'

export class OnnxPrefix implements PrefixRunner {
  readonly parallel = 1

  private constructor(
    private readonly runtime: Ort,
    private readonly session: InferenceSession,
    private readonly size: number,
    readonly description: string
  ) {}

  /** Throws UnsupportedLayerError when a layer has no ONNX translation. */
  static async create(spec: PrefixSpec, threads: number): Promise<OnnxPrefix | string> {
    const runtime = await loadOnnxRuntime()
    if (typeof runtime === 'string') return runtime
    const bytes = exportOnnx(spec.nodes, spec.shapeOf, spec.preprocess)
    const session = await runtime.InferenceSession.create(bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3
    })
    return new OnnxPrefix(runtime, session, spec.size, onnxDescription(runtime, threads))
  }

  async run(pixels: Uint8Array | Float32Array, count: number): Promise<Float32Array> {
    const values = pixels instanceof Float32Array ? pixels : Float32Array.from(pixels)
    const input = new this.runtime.Tensor('float32', values, [count, this.size, this.size, 3])
    const result = await this.session.run({ [ONNX_INPUT]: input })
    // The output's buffer is handed over to JavaScript (no copy, nothing shared): it is ours to keep.
    return result[ONNX_OUTPUT].data as Float32Array
  }

  async close(): Promise<void> {
    await this.session.release()
  }
}
