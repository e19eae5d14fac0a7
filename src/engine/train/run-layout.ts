// What a training run folder holds, by name: the one place these names are written, so the
// trainer that writes a run, the resume that reads it back and the run list agree.
import fs from 'node:fs/promises'
import path from 'node:path'

/** Under the studio home: one folder per run. */
export const RUNS_DIR = 'runs'
/** The run's record: its settings, app version, start (and resume) times. */
export const RUN_FILE = 'run.json'
/** The finished model (when the run was not told to save elsewhere). */
export const MODEL_DIR = 'model'
/** The best epoch's model so far. */
export const CHECKPOINT_DIR = 'checkpoint'
/** What a stopped run continues from, replaced after every epoch. */
export const STATE_DIR = 'state'
/** Inside STATE_DIR: the history, trackers and settings (the tensors sit beside it). */
export const STATE_FILE = 'state.json'
/** The final validation report. */
export const EVALUATION_FILE = 'evaluation.json'

/** The absolute paths inside one run folder. */
export function runLayout(runDir: string) {
  return {
    record: path.join(runDir, RUN_FILE),
    model: path.join(runDir, MODEL_DIR),
    checkpoint: path.join(runDir, CHECKPOINT_DIR),
    state: path.join(runDir, STATE_DIR),
    stateFile: path.join(runDir, STATE_DIR, STATE_FILE),
    evaluation: path.join(runDir, EVALUATION_FILE)
  }
}

export function runsRoot(home: string): string {
  return path.join(home, RUNS_DIR)
}

/** Makes a new run's folder: its start time, backbone and a few random letters. */
export async function newRunDir(home: string, backbone: string): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  const dir = path.join(runsRoot(home), `${stamp}-${backbone}-${Math.random().toString(36).slice(2, 6)}`)
  await fs.mkdir(dir, { recursive: true })
  return dir
}
