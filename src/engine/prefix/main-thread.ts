// The frozen prefix in the engine's own thread, on the inference backend: the reference the
// faster runners are checked against, and the last resort.
import { onBackend } from '../backend'
import { prefixOutputs } from '../train/pixels'
import type { PrefixRunner, PrefixSpec } from './runner'

/** This thread, on the inference backend. */
export function mainThreadRunner(spec: PrefixSpec, inferenceBackend: string): PrefixRunner {
  return {
    description: `tfjs ${inferenceBackend} (this thread)`,
    parallel: 1,
    run: async (pixels, count) => onBackend(inferenceBackend, () => prefixOutputs(spec.model, pixels, count, spec.size, spec.preprocess)),
    close: async () => {}
  }
}
