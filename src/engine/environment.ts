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

/**
 * The environment of an engine process that keeps its files in `home`. On Linux, glibc's malloc
 * is also told to ask for transparent huge pages (`glibc.malloc.hugetlb=1`, glibc 2.35 and later;
 * older ones ignore it): every training run hands back the weights and optimizer state as new
 * memory (176 MB a run for ResNet50's conv5), and the first write to each 4 KB page of it faults.
 * With 2 MB pages, (c) of bench/finetune.ts took a quarter of the page faults and its epoch 7 %
 * less time (docs/adr/0005). A value the user set for that tunable stays.
 */
export function engineEnvironment(home: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  return { ...withHugePageMalloc(env, platform), [HOME_VARIABLE]: home }
}

const HUGE_PAGES = 'glibc.malloc.hugetlb'

/** `env` with glibc's malloc asking for huge pages (engineEnvironment; the benchmarks' processes that train as the engine does). */
export function withHugePageMalloc(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  const tunables = env.GLIBC_TUNABLES ?? ''
  if (platform !== 'linux' || tunables.split(':').some((t) => t.startsWith(`${HUGE_PAGES}=`))) return { ...env }
  return { ...env, GLIBC_TUNABLES: tunables ? `${tunables}:${HUGE_PAGES}=1` : `${HUGE_PAGES}=1` }
}
