// How the Runs view words a run: its name, its frozen cut, its settings in one line, and the
// settings that differ between runs being compared.
import type { FreezeSpec, RunSummary, TrainConfig } from '../../shared/protocol'

export const folderName = (dir: string): string => dir.split(/[\\/]/).filter(Boolean).pop() ?? dir

export const runName = (run: RunSummary): string => run.name ?? folderName(run.dir)

export function frozenCut(freeze: FreezeSpec, frozenLayers: number | null): string {
  switch (freeze.kind) {
    case 'all':
      return 'backbone frozen'
    case 'none':
      return 'nothing frozen'
    case 'upTo':
      return `frozen up to ${freeze.layer}`
    case 'layers':
      return `${frozenLayers ?? freeze.frozen.length} layers frozen`
  }
}

export function settingsLine(config: TrainConfig): string {
  const parts = [`${config.epochs} ${config.epochs === 1 ? 'epoch' : 'epochs'}`, `batch ${config.batchSize}`, `lr ${config.learningRate}`, config.optimizer]
  const augment = config.augment
    ? Object.entries(config.augment)
        .filter(([, value]) => value !== false && value !== 0)
        .map(([key]) => key)
    : []
  if (augment.length) parts.push(`augment ${augment.join(', ')}`)
  if (config.earlyStopping) parts.push(`early stopping ${config.earlyStopping.patience}`)
  if (config.reduceLrOnPlateau) parts.push(`reduce LR ${config.reduceLrOnPlateau.patience}`)
  if (config.head.dense.length) parts.push(`head ${config.head.dense.map((d) => d.units).join('-')}`)
  return parts.join(' · ')
}

/** Every setting as "path: value", nested objects flattened (head.dropout, augment.zoom, …). */
function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out)
  } else {
    out.set(prefix, value === undefined ? '–' : JSON.stringify(value))
  }
}

/** The settings whose values are not the same in every run, with each run's value. */
export function settingsDiff(configs: TrainConfig[]): Array<{ setting: string; values: string[] }> {
  const flat = configs.map((config) => {
    const out = new Map<string, string>()
    const { out: _out, ...rest } = config
    flatten(rest, '', out)
    return out
  })
  const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))].sort()
  return keys.map((setting) => ({ setting, values: flat.map((f) => f.get(setting) ?? '–') })).filter((row) => new Set(row.values).size > 1)
}
