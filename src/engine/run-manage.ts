// Renaming, deleting and exporting a training run from the Runs view. Deleting is the one place a
// run folder goes: only a folder directly in the studio home's runs, with a valid run.json, holding
// nothing but what Transfer Studio writes there (its model and checkpoint checked as our saved
// models, its state as our state folder). Anything else in it and nothing is deleted.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { studioHome } from './home'
import { KERAS_FILE } from './keras/model-io'
import { FROZEN_FILE, METADATA_FILE, MODEL_FILE, readMetadata, WEIGHTS_FILE } from './model/store'
import { historyCsv, readRunHistory } from './runs'
import { readRunRecord } from './train/resume'
import { CHECKPOINT_DIR, EVALUATION_FILE, MODEL_DIR, RUN_FILE, runsRoot, STATE_DIR } from './train/run-layout'
import { notAStateFolder } from './train/run-state'
import { unexpectedEntries, writeFileAtomic } from './util/atomic'

/** The CSV of a run's history, in its folder. */
export const HISTORY_CSV = 'history.csv'

export class RunFolderError extends Error {
  override name = 'RunFolderError'
}

/** Files a run folder holds at its top: its record, evaluation, history and an exported Keras file. */
const RUN_FILES = new Set([RUN_FILE, EVALUATION_FILE, HISTORY_CSV, KERAS_FILE])
/** A saved model of ours, with the Keras file export-keras writes beside it by default. */
const MODEL_FOLDER_FILES = new Set([MODEL_FILE, FROZEN_FILE, WEIGHTS_FILE, METADATA_FILE, KERAS_FILE])
/** What our atomic writes leave for a moment (or after a crash): staging folders, old copies, temporary files. */
const LEFTOVER =
  /^(\.(model|checkpoint|state)\.partial-[A-Za-z0-9]+|(model|checkpoint|state)\.old-\d+-[0-9a-f]+|(run\.json|history\.csv|evaluation\.json)\.tmp-\d+-[0-9a-f]+)$/

/** The real path of `runDir` when it is a run folder directly in the studio home's runs; else an error naming why not. */
async function runInHome(runDir: string, home: string): Promise<string> {
  const real = await fs.realpath(path.resolve(runDir)).catch(() => {
    throw new RunFolderError(`Run folder not found: ${runDir}`)
  })
  const root = await fs.realpath(runsRoot(home)).catch(() => runsRoot(home))
  if (path.dirname(real) !== root) throw new RunFolderError(`${runDir} is not a run folder of this studio (runs live in ${root})`)
  await readRunRecord(real)
  return real
}

async function notOurModelFolder(dir: string): Promise<string | null> {
  try {
    await readMetadata(dir)
  } catch (error) {
    return (error as Error).message
  }
  return unexpectedEntries(dir, MODEL_FOLDER_FILES)
}

/** Why `dir` holds something Transfer Studio did not write, or null when all of it is ours. */
export async function notOurRunFolder(dir: string): Promise<string | null> {
  const entries = await fs.readdir(dir, { withFileTypes: true })
  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    if (LEFTOVER.test(entry.name) && !entry.isSymbolicLink()) continue
    if (entry.isFile() && RUN_FILES.has(entry.name)) continue
    if (entry.isDirectory()) {
      if ((await fs.readdir(full)).length === 0) continue
      if (entry.name === MODEL_DIR || entry.name === CHECKPOINT_DIR) {
        const refusal = await notOurModelFolder(full)
        if (refusal) return refusal
        continue
      }
      if (entry.name === STATE_DIR) {
        const refusal = await notAStateFolder(full)
        if (refusal) return refusal
        continue
      }
    }
    return `${full} is not something Transfer Studio writes in a run folder`
  }
  return null
}

/** Deletes a run folder we wrote; refuses (deleting nothing) when anything in it is not ours. */
export async function deleteRun(runDir: string, home = studioHome()): Promise<string> {
  const real = await runInHome(runDir, home)
  const refusal = await notOurRunFolder(real)
  if (refusal) throw new RunFolderError(`Will not delete ${runDir}: ${refusal}. Nothing was deleted`)
  // Moved aside first and checked again there: nothing put in meanwhile is deleted with it.
  const aside = path.join(path.dirname(real), `.deleting-${path.basename(real)}-${randomBytes(4).toString('hex')}`)
  await fs.rename(real, aside)
  const late = await notOurRunFolder(aside).catch((error: Error) => error.message)
  if (late) {
    await fs.rename(aside, real)
    throw new RunFolderError(`Will not delete ${runDir}: it changed while being deleted (${late}). Nothing was deleted`)
  }
  await fs.rm(aside, { recursive: true, force: true })
  return real
}

/** Names a run (in its run.json); an empty name removes the name. */
export async function renameRun(runDir: string, name: string, home = studioHome()): Promise<string | null> {
  const real = await runInHome(runDir, home)
  const record = await readRunRecord(real)
  const trimmed = name.replace(/\p{Cc}/gu, ' ').trim()
  const { name: _old, ...rest } = record
  const next = trimmed ? { ...rest, name: trimmed } : rest
  await writeFileAtomic(path.join(real, RUN_FILE), JSON.stringify(next, null, 2))
  return trimmed || null
}

/** Writes the run's history as Keras' CSVLogger would into history.csv in its folder; returns the file and its text. */
export async function exportRunCsv(runDir: string, home = studioHome()): Promise<{ file: string; csv: string }> {
  const real = await runInHome(runDir, home)
  const csv = historyCsv(await readRunHistory(real))
  const file = path.join(real, HISTORY_CSV)
  await writeFileAtomic(file, csv)
  return { file, csv }
}
