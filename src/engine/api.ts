// What a host can ask of the engine. The command line calls these in its own process; the app
// and the headless server reach them through the engine process (process.ts).
import type { BackboneInfo, BackendInfo, DatasetReport } from '../shared/protocol'
import { initBackend } from './backend'
import { BACKBONES } from './backbones/registry'
import { isCached } from './backbones/weights'
import { loadDataset, type ScanOptions } from './datasets/scan'
import { studioHome } from './home'

export { classifyImageNet } from './imagenet'

export function engineInfo(): Promise<BackendInfo> {
  return initBackend()
}

export async function listBackbones(home = studioHome()): Promise<BackboneInfo[]> {
  return Promise.all(BACKBONES.map(async (spec) => ({ ...spec, cached: await isCached(spec, home) })))
}

export async function scanDataset(dir: string, options: ScanOptions = {}): Promise<DatasetReport> {
  return (await loadDataset(dir, options)).report
}
