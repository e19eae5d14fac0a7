// The environment variables Transfer Studio reads, in one place, read when asked (tests and hosts
// set them at run time). ELECTRON_RENDERER_URL is electron-vite's own and stays with Electron's main.
import type { RunnerKind } from './prefix/runner'

/** Where runs, models and downloaded weights live (engine/home.ts falls back to the OS's app-data folder). */
export const HOME_VARIABLE = 'TRANSFER_STUDIO_HOME'

const RUNNERS: readonly RunnerKind[] = ['onnx', 'workers', 'main']

export const environment = {
  home: (env: NodeJS.ProcessEnv = process.env): string | undefined => env[HOME_VARIABLE] || undefined,
  /** A mirror (URL or folder) with the same layout as the official weights URLs, for machines without internet. */
  weightsMirror: (env: NodeJS.ProcessEnv = process.env): string | undefined => env.TRANSFER_STUDIO_WEIGHTS || undefined,
  /** Stacks of unexpected errors on stderr. */
  debug: (env: NodeJS.ProcessEnv = process.env): boolean => Boolean(env.TRANSFER_STUDIO_DEBUG),
  /** Pins the runner of the frozen layers on tfjs-wasm (benchmarks, tests); unset lets the engine choose. */
  prefixRunner: (env: NodeJS.ProcessEnv = process.env): RunnerKind | undefined => {
    const value = env.TRANSFER_STUDIO_PREFIX_RUNNER
    if (!value) return undefined
    if (!RUNNERS.includes(value as RunnerKind)) throw new Error(`TRANSFER_STUDIO_PREFIX_RUNNER=${value}: use one of ${RUNNERS.join(', ')}`)
    return value as RunnerKind
  }
}

/** The environment of an engine process that keeps its files in `home`. */
export function engineEnvironment(home: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, [HOME_VARIABLE]: home }
}
