// Earlier training runs, as the studio home records them (runs/<run>/run.json + its model).
import fs from 'node:fs/promises'
import path from 'node:path'
import type { EvaluationReport, RunSummary, TrainConfig } from '../shared/protocol'
import { studioHome } from './home'
import { readMetadata } from './model/store'
import { MODEL_DIR } from './train/trainer'

export async function listRuns(home = studioHome()): Promise<RunSummary[]> {
  const root = path.join(home, 'runs')
  const names = await fs.readdir(root).catch(() => [] as string[])
  const runs = await Promise.all(names.map((name) => readRun(path.join(root, name))))
  return runs.filter((r): r is RunSummary => r !== null).sort((a, b) => b.startedAt.localeCompare(a.startedAt))
}

async function readRun(dir: string): Promise<RunSummary | null> {
  let record: { config: TrainConfig; startedAt: string }
  try {
    record = JSON.parse(await fs.readFile(path.join(dir, 'run.json'), 'utf8'))
  } catch {
    return null // not a run folder, or one that never got going
  }
  const modelDir = record.config.out ? path.resolve(record.config.out) : path.join(dir, MODEL_DIR)
  const metadata = await readMetadata(modelDir).catch(() => null)
  return {
    dir,
    startedAt: record.startedAt,
    backbone: record.config.backbone,
    data: record.config.data,
    epochs: record.config.epochs,
    modelDir: metadata ? modelDir : null,
    metrics: metadata?.metrics ?? null
  }
}

export async function readEvaluation(runDir: string): Promise<EvaluationReport> {
  const file = path.join(runDir, 'evaluation.json')
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as EvaluationReport
  } catch {
    throw new Error(`${runDir} has no evaluation yet (${file} is missing): the run has not finished`)
  }
}
