// Earlier training runs, as the studio home records them (runs/<run>/run.json + its model).
// Everything read back is validated: a run folder is something anyone could have edited.
import fs from 'node:fs/promises'
import path from 'node:path'
import { describeSchemaError, EvaluationReport, type RunSummary } from '../shared/protocol'
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
  const record = await readRunRecord(dir).catch(() => null) // not a run folder, or one that never got going
  if (!record) return null
  // A resumed run saves into its own folder; a run started with --out saved there first.
  const candidates = [runLayout(dir).model, ...(record.config.out ? [path.resolve(record.config.out)] : [])]
  for (const modelDir of candidates) {
    const metadata = await readMetadata(modelDir).catch(() => null)
    if (metadata) return summary(dir, record, modelDir, metadata.metrics)
  }
  return summary(dir, record, null, null)
}

function summary(dir: string, record: Awaited<ReturnType<typeof readRunRecord>>, modelDir: string | null, metrics: RunSummary['metrics']): RunSummary {
  return { dir, startedAt: record.startedAt, backbone: record.config.backbone, data: record.config.data, epochs: record.config.epochs, modelDir, metrics }
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
