// The host owns the session, not the window: the open dataset, the model screen's choices (kept
// per dataset folder in the studio home) and the training in progress with its every event. Both
// hosts route each client message through `handle`, and every engine event through `observe`; a
// window that connects asks for the snapshot and follows the live events from there on.
import fs from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { describeSchemaError, DatasetReport, EngineCommand, type EngineCommandInput, type EngineEvent, type TrainEvent } from '../shared/protocol'
import { TrainOutcome } from '../shared/results'
import {
  SessionCommand,
  isSessionCommand,
  ModelChoices,
  type SessionCommandResult,
  type SessionCommandName,
  type SessionEvent,
  type SessionSnapshot,
  type TrainingSnapshot
} from '../shared/session'
import { TRAIN_DEFAULTS } from '../shared/train-settings'
import { writeFileAtomic } from '../engine/util/atomic'

/** In the studio home: the model screen's choices per dataset folder. */
export const SETTINGS_FILE = 'session-settings.json'
/** Datasets whose choices are remembered; the least recently saved go first. */
export const MAX_REMEMBERED = 200
/** Batch points kept for a run's charts; beyond it every other one is dropped (the curve keeps its shape). */
export const MAX_BATCH_EVENTS = 20_000
const MAX_SETTINGS_BYTES = 32 * 1024 * 1024

const SettingsFile = z.object({
  version: z.literal(1),
  datasets: z.array(z.object({ dir: z.string(), savedAt: z.string(), choices: z.unknown() }))
})

export type RunEngine = (command: EngineCommandInput) => Promise<unknown>

export class SessionState {
  private dataset: SessionSnapshot['dataset'] = null
  private training: TrainingSnapshot = { serial: 0, running: false, kind: null, runDir: null, epochs: null, outcome: null, error: null, events: [] }
  private remembered: Map<string, { savedAt: string; choices: ModelChoices }> | null = null
  private writing: Promise<void> = Promise.resolve()

  constructor(
    private readonly home: string,
    private readonly broadcast: (event: SessionEvent) => void
  ) {}

  /** Runs one client message: the host's own commands here, the engine's through `engine`. */
  async handle(body: unknown, engine: RunEngine): Promise<unknown> {
    if (isSessionCommand(body)) return this.sessionCommand(body)
    const command = (body as { command?: unknown } | null)?.command
    // Only a well-formed training is followed: a malformed one is refused by the engine's schema
    // and must not show in any window as a run that started.
    if ((command === 'train' || command === 'resumeTraining') && !this.training.running && EngineCommand.safeParse(body).success) {
      return this.follow(body as EngineCommandInput, engine)
    }
    if (command === 'deleteRun' && this.training.running && this.training.runDir !== null) {
      const target = (body as { runDir?: unknown }).runDir
      if (typeof target === 'string' && path.resolve(target) === path.resolve(this.training.runDir)) {
        throw new Error(`${target} is training now: stop it before deleting it`)
      }
    }
    const result = await engine(body as EngineCommandInput)
    if (command === 'scan') {
      // What the engine answered is the client's either way; the session keeps it when it reads as a report.
      const report = DatasetReport.safeParse(result)
      if (report.success) this.dataset = { dir: report.data.root, report: report.data }
    }
    return result
  }

  /** Records the events of the run being followed (the learning-rate finder's are not a run). */
  observe(event: EngineEvent): void {
    if (event.event !== 'train' || !this.training.running) return
    appendEvent(this.training.events, event.data)
    if (event.data.event === 'run') {
      this.training.runDir = event.data.runDir
      this.announce(false)
    }
  }

  async snapshot(): Promise<SessionSnapshot> {
    const choices = this.dataset ? await this.readChoices(this.dataset.dir) : null
    return { dataset: this.dataset, choices, training: { ...this.training, events: [...this.training.events] } }
  }

  private async sessionCommand(body: unknown): Promise<SessionCommandResult<SessionCommandName>> {
    const parsed = SessionCommand.safeParse(body)
    if (!parsed.success) throw new Error(`Refused a malformed command: ${describeSchemaError(parsed.error)}`)
    const command = parsed.data
    switch (command.command) {
      case 'session':
        return this.snapshot()
      case 'readChoices':
        return this.readChoices(command.dir)
      case 'saveChoices':
        await this.saveChoices(command.dir, command.choices)
        return { saved: true }
    }
  }

  /** A training or a resume: the host follows it, whichever window started it and whoever watches. */
  private async follow(command: EngineCommandInput, engine: RunEngine): Promise<unknown> {
    const previous = this.training
    const resume = command.command === 'resumeTraining' ? path.resolve(command.runDir) : null
    // Resuming the run on screen keeps its epochs on the charts; anything else starts them over.
    const keep = resume !== null && previous.runDir !== null && path.resolve(previous.runDir) === resume
    this.training = {
      serial: previous.serial + 1,
      running: true,
      kind: resume ? 'resume' : 'train',
      runDir: resume,
      epochs: command.command === 'train' ? (command.config.epochs ?? TRAIN_DEFAULTS.epochs) : keep ? previous.epochs : null,
      outcome: null,
      error: null,
      events: keep ? previous.events.filter((e) => e.event === 'epoch' || e.event === 'batch' || e.event === 'path' || e.event === 'skipped') : []
    }
    const current = this.training
    this.announce(true)
    try {
      const result = await engine(command)
      const outcome = TrainOutcome.safeParse(result)
      current.outcome = outcome.success ? outcome.data : null
      if (outcome.success) current.runDir = outcome.data.runDir
      return result
    } catch (error) {
      current.error = (error as Error).message
      throw error
    } finally {
      current.running = false
      if (this.training === current) this.announce(false)
    }
  }

  private announce(withEvents: boolean): void {
    this.broadcast({ event: 'session-training', training: { ...this.training, events: withEvents ? [...this.training.events] : null } })
  }

  private get settingsFile(): string {
    return path.join(this.home, SETTINGS_FILE)
  }

  private async load(): Promise<Map<string, { savedAt: string; choices: ModelChoices }>> {
    if (this.remembered) return this.remembered
    const remembered = new Map<string, { savedAt: string; choices: ModelChoices }>()
    const text = await readSmallFile(this.settingsFile, MAX_SETTINGS_BYTES)
    if (text !== null) {
      // A damaged or foreign file costs the remembered choices, never the session: it is replaced on the next save.
      const parsed = SettingsFile.safeParse(safeJson(text))
      for (const entry of parsed.success ? parsed.data.datasets : []) {
        const choices = ModelChoices.safeParse(entry.choices)
        if (choices.success) remembered.set(entry.dir, { savedAt: entry.savedAt, choices: choices.data })
      }
    }
    this.remembered ??= remembered
    return this.remembered
  }

  async readChoices(dir: string): Promise<ModelChoices | null> {
    return (await this.load()).get(path.resolve(dir))?.choices ?? null
  }

  async saveChoices(dir: string, choices: ModelChoices): Promise<void> {
    const remembered = await this.load()
    const key = path.resolve(dir)
    remembered.delete(key)
    remembered.set(key, { savedAt: new Date().toISOString(), choices })
    while (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!)
    const text = JSON.stringify({ version: 1, datasets: [...remembered].map(([entryDir, entry]) => ({ dir: entryDir, ...entry })) }, null, 1)
    // One write at a time, in order: the last choices saved are the ones on disk.
    const write = this.writing
      .catch(() => {})
      .then(async () => {
        await fs.mkdir(this.home, { recursive: true })
        await writeFileAtomic(this.settingsFile, text)
      })
    this.writing = write
    await write
  }
}

/** Appends `event` to a run's log, thinning the batch points once there are too many to draw. */
export function appendEvent(log: TrainEvent[], event: TrainEvent): void {
  log.push(event)
  if (event.event !== 'batch') return
  const batches = (batchCounts.get(log) ?? log.filter((e) => e.event === 'batch').length - 1) + 1
  batchCounts.set(log, batches)
  if (batches <= MAX_BATCH_EVENTS) return
  let seen = 0
  const kept = log.filter((e) => e.event !== 'batch' || seen++ % 2 === 0 || e === event)
  log.splice(0, log.length, ...kept)
  batchCounts.set(log, kept.filter((e) => e.event === 'batch').length)
}

/** Batch events per log, so appending stays constant time. */
const batchCounts = new WeakMap<TrainEvent[], number>()

async function readSmallFile(file: string, maxBytes: number): Promise<string | null> {
  const stat = await fs.lstat(file).catch(() => null)
  if (!stat?.isFile() || stat.size > maxBytes) return null
  return fs.readFile(file, 'utf8').catch(() => null)
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}
