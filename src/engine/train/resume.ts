// Continuing a run from what it left in its folder. Everything read back is checked: run.json and
// state.json against their schemas and against each other, the dataset folders they name against
// the folders the host says the user opened, and the finished model goes to the run's own folder
// (or where the caller says now), never to a path read from a file that anyone could have edited.
import fs from 'node:fs/promises'
import path from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { describeSchemaError, RunRecord, type TrainConfig } from '../../shared/protocol'
import { readJsonFile, UnsafeFileError } from '../util/safe-read'
import { RUN_FILE, runLayout } from './run-layout'
import { hasRunState, loadRunState, type LoadedRunState } from './run-state'

const MAX_RUN_FILE_BYTES = 1024 * 1024

export class ResumeError extends Error {
  override name = 'TrainError'
}

export interface ResumeOptions {
  /** Where the finished model goes, as the caller says now; the run's own folder when absent. */
  out?: string
  /** The folders the user opened (absolute); when given, the dataset folders of the run must lie inside them. */
  openedFolders?: string[]
}

export interface OpenedRun {
  runDir: string
  record: RunRecord
  /** The settings to continue with: the run's own, with the output as the caller gives it. */
  config: TrainConfig
  /** null when the run stopped before its first epoch finished. */
  state: LoadedRunState | null
}

export async function readRunRecord(runDir: string): Promise<RunRecord> {
  const file = runLayout(runDir).record
  const raw = await readJsonFile(file, MAX_RUN_FILE_BYTES).catch((error: Error & { code?: string }) => {
    if (error.code === 'ENOENT') throw new ResumeError(`${runDir} is not a training run: it has no ${RUN_FILE}`)
    if (error.code === 'ENOTDIR') throw new ResumeError(`${runDir} is not a training run folder`)
    throw new ResumeError(`${file} cannot be used: ${error instanceof UnsafeFileError ? error.reason : error.message}`)
  })
  const parsed = RunRecord.safeParse(raw)
  if (!parsed.success) throw new ResumeError(`${file} is not a valid run record: ${describeSchemaError(parsed.error)}`)
  return parsed.data
}

export async function openRun(dir: string, options: ResumeOptions = {}): Promise<OpenedRun> {
  const runDir = await fs.realpath(path.resolve(dir)).catch(() => {
    throw new ResumeError(`Run folder not found: ${dir}`)
  })
  const record = await readRunRecord(runDir)
  const state = (await hasRunState(runDir)) ? await loadRunState(runDir) : null
  const recorded = (config: TrainConfig) => ({ ...config, out: undefined })
  if (state && !isDeepStrictEqual(recorded(state.state.config), recorded(record.config))) {
    const fields = Object.keys(record.config).filter(
      (key) => !isDeepStrictEqual(state.state.config[key as keyof TrainConfig], record.config[key as keyof TrainConfig])
    )
    throw new ResumeError(
      `${runLayout(runDir).stateFile} and ${runLayout(runDir).record} disagree about ${fields.join(', ') || 'the settings'}: ` +
        'one of them was edited, so the run is not resumed'
    )
  }
  const config = state ? state.state.config : record.config
  if (options.openedFolders) await checkInsideOpened(config, options.openedFolders, runLayout(runDir).record)
  return { runDir, record, state, config: { ...config, out: options.out } }
}

/** Each dataset folder the run names must be (really, links resolved) inside a folder the user opened. */
async function checkInsideOpened(config: TrainConfig, opened: string[], file: string): Promise<void> {
  const roots = await Promise.all(opened.map((root) => fs.realpath(path.resolve(root)).catch(() => null)))
  for (const [field, folder] of [
    ['data', config.data],
    ['val', config.val],
    ['test', config.test]
  ] as const) {
    if (folder === undefined) continue
    const real = await fs.realpath(path.resolve(folder)).catch(() => {
      throw new ResumeError(`${file}: ${field} names ${folder}, which no longer exists: the run cannot continue`)
    })
    const inside = roots.some((root) => root !== null && (real === root || real.startsWith(root + path.sep)))
    if (!inside) throw new ResumeError(`${file}: ${field} names ${folder}, which is outside the folders you opened: the run is not resumed`)
  }
}
