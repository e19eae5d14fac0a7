// Earlier training runs, as the studio home records them (runs/<run>/run.json + its model).
// Everything read back is validated: a run folder is something anyone could have edited.
import fs from 'node:fs/promises'
import path from 'node:path'
import {
  describeSchemaError,
  EvaluationReport,
  RunStateRecord,
  type EpochMetrics,
  type ModelMetadata,
  type RunRecord,
  type RunSummary
} from '../shared/protocol'
import { studioHome } from './home'
import { readMetadata } from './model/store'
import { readRunRecord } from './train/resume'
import { runLayout, runsRoot } from './train/run-layout'
import { readJsonFile, UnsafeFileError } from './util/safe-read'

const MAX_EVALUATION_BYTES = 256 * 1024 * 1024

export async function listRuns(home = studioHome()): Promise<RunSummary[]> {
  const root = runsRoot(home)
  const names = await fs.readdir(root).catch(() => [] as string[])
  const runs = await Promise.all(names.map((name) => readRun(path.join(root, name))))
  return runs.filter((r): r is RunSummary => r !== null).sort((a, b) => b.startedAt.localeCompare(a.startedAt))
}

async function readRun(dir: string): Promise<RunSummary | null> {
  // Folders being deleted or staged start with a dot; they are no runs.
  if (path.basename(dir).startsWith('.')) return null
  const record = await readRunRecord(dir).catch(() => null) // not a run folder, or one that never got going
  if (!record) return null
  const state = await readStateRecord(dir)
  // A resumed run saves into its own folder; a run started with --out saved there first.
  const candidates = [runLayout(dir).model, ...(record.config.out ? [path.resolve(record.config.out)] : [])]
  for (const modelDir of candidates) {
    const metadata = await readMetadata(modelDir).catch(() => null)
    if (metadata) return summary(dir, record, state, modelDir, metadata)
  }
  return summary(dir, record, state, null, null)
}

function summary(dir: string, record: RunRecord, state: RunStateRecord | null, modelDir: string | null, metadata: ModelMetadata | null): RunSummary {
  const { config } = record
  const epochsDone = state?.epochsDone ?? 0
  let status: RunSummary['status'] = 'incomplete'
  if (metadata) {
    const early = state?.trackers.early
    if (metadata.metrics.epochs >= config.epochs) status = 'completed'
    else if (config.earlyStopping && early && early.wait >= config.earlyStopping.patience) status = 'early-stopping'
    else status = 'stopped'
  }
  return {
    dir,
    startedAt: record.startedAt,
    backbone: config.backbone,
    data: config.data,
    epochs: config.epochs,
    modelDir,
    metrics: metadata?.metrics ?? null,
    name: record.name ?? null,
    config,
    status,
    epochsDone,
    // A run that never finished starts again from its last state (or from epoch 1 without one).
    resumable: status === 'incomplete' || (status === 'stopped' && state !== null),
    frozenLayers: metadata?.frozenLayers.length ?? null,
    savedEpoch: metadata ? savedEpochOf(metadata) : null
  }
}

/** The epoch whose weights a saved model holds, where its metadata records it (models saved since it does). */
function savedEpochOf(metadata: ModelMetadata): number | null {
  const recorded = metadata as ModelMetadata & { savedEpoch?: unknown; metrics: { savedEpoch?: unknown } }
  const epoch = recorded.savedEpoch ?? recorded.metrics.savedEpoch
  return typeof epoch === 'number' && Number.isInteger(epoch) ? epoch : null
}

const MAX_STATE_BYTES = 64 * 1024 * 1024

/** The run's state.json without its tensors, or null when it has none (or one that is not valid). */
async function readStateRecord(runDir: string): Promise<RunStateRecord | null> {
  const raw = await readJsonFile(runLayout(runDir).stateFile, MAX_STATE_BYTES).catch(() => null)
  const parsed = RunStateRecord.safeParse(raw)
  return parsed.success ? parsed.data : null
}

/** The run's per-epoch metrics, as its last saved state holds them (none before its first epoch ends). */
export async function readRunHistory(runDir: string): Promise<EpochMetrics[]> {
  await readRunRecord(runDir)
  return (await readStateRecord(runDir))?.history ?? []
}

/** Where Keras' CSVLogger puts a value it does not have. */
const MISSING = 'NA'
const csvNumber = (value: number | null | undefined): string => (value === null || value === undefined ? MISSING : Number.isNaN(value) ? 'nan' : String(value))

/**
 * The history as Keras' CSVLogger writes it: a header, then one row per epoch, epochs counted
 * from 0 as Keras counts them (the Runs and Train views count from 1).
 */
export function historyCsv(history: readonly EpochMetrics[]): string {
  const rows = history.map((e) => [String(e.epoch - 1), ...[e.acc, e.loss, e.val_acc, e.val_loss, e.lr].map(csvNumber)].join(','))
  return ['epoch,acc,loss,val_acc,val_loss,lr', ...rows].join('\n') + '\n'
}

export async function readEvaluation(runDir: string): Promise<EvaluationReport> {
  const file = runLayout(runDir).evaluation
  const raw = await readJsonFile(file, MAX_EVALUATION_BYTES).catch((error: Error & { code?: string }) => {
    if (error.code === 'ENOENT') throw new Error(`${runDir} has no evaluation yet (${file} is missing): the run has not finished`)
    throw new Error(`${file} cannot be used: ${error instanceof UnsafeFileError ? error.reason : error.message}`)
  })
  const parsed = EvaluationReport.safeParse(raw)
  if (!parsed.success) throw new Error(`${file} is not a valid evaluation: ${describeSchemaError(parsed.error)}`)
  return parsed.data
}
