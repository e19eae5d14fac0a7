// The session a host keeps for every window it serves: the open dataset, the model screen's
// choices, and the training in progress (or the last one) with every event it sent. A renderer
// that connects or reconnects asks for it whole (`session`) and then follows the live events, so
// a reload or a second window continues where the first was. Commands and events here are the
// host's own: they never reach the engine.
import { z } from 'zod'
import { Augmentation, DatasetReport, HeadConfig, MAX_LAYERS, TrainConfig, TrainEvent } from './protocol'
import { TrainOutcome } from './results'

const MAX_PATH = 4096

/** The training form's settings, as the model and train screens hold them. */
export const TrainSettings = z.object({
  epochs: TrainConfig.shape.epochs.unwrap(),
  batchSize: TrainConfig.shape.batchSize.unwrap(),
  learningRate: TrainConfig.shape.learningRate.unwrap(),
  optimizer: TrainConfig.shape.optimizer.unwrap(),
  augment: Augmentation,
  /** Early-stopping patience; null: off. */
  earlyStopping: z.number().int().min(0).max(10_000).nullable(),
  /** Reduce-LR-on-plateau patience; null: off. */
  reduceLr: z.number().int().min(0).max(10_000).nullable(),
  cacheFeatures: z.boolean(),
  seed: TrainConfig.shape.seed.unwrap()
})
export type TrainSettings = z.infer<typeof TrainSettings>

/** What the model screen (and the training form) chose for one dataset. */
export const ModelChoices = z.object({
  backbone: z.string().min(1).max(100),
  head: HeadConfig,
  /** Backbone and head layers that do not train; null: the backbone's default (all of it frozen). */
  frozen: z.array(z.string().max(200)).max(MAX_LAYERS).nullable(),
  train: TrainSettings
})
export type ModelChoices = z.infer<typeof ModelChoices>

/** The training run the host follows: the one in progress, or the last one started here. */
export const TrainingSnapshot = z.object({
  /** Counts the trainings started in this host: a change means a new run (the charts start over). */
  serial: z.number().int().min(0),
  running: z.boolean(),
  kind: z.enum(['train', 'resume']).nullable(),
  /** The run's folder, once the engine named it (a Start that fails early never gets one). */
  runDir: z.string().nullable(),
  /** Epochs the run was set to (progress is measured against them); null when not known (a resume). */
  epochs: z.number().int().nullable(),
  outcome: TrainOutcome.nullable(),
  error: z.string().nullable(),
  /** Every event of the run in the order the engine sent them (the charts are rebuilt from them). */
  events: z.array(TrainEvent)
})
export type TrainingSnapshot = z.infer<typeof TrainingSnapshot>

export const SessionSnapshot = z.object({
  dataset: z.object({ dir: z.string(), report: DatasetReport }).nullable(),
  /** The choices for the open dataset, as last saved. */
  choices: ModelChoices.nullable(),
  training: TrainingSnapshot
})
export type SessionSnapshot = z.infer<typeof SessionSnapshot>

export const SessionCommand = z.discriminatedUnion('command', [
  /** The whole session, to hydrate a renderer that has just connected. */
  z.object({ command: z.literal('session') }),
  /** Remembers the model screen's choices for a dataset folder (kept in the studio home). */
  z.object({ command: z.literal('saveChoices'), dir: z.string().min(1).max(MAX_PATH), choices: ModelChoices }),
  /** The choices last saved for a dataset folder, or null. */
  z.object({ command: z.literal('readChoices'), dir: z.string().min(1).max(MAX_PATH) })
])
export type SessionCommand = z.infer<typeof SessionCommand>
export type SessionCommandName = SessionCommand['command']

export const SessionCommandResults = {
  session: SessionSnapshot,
  saveChoices: z.object({ saved: z.boolean() }),
  readChoices: ModelChoices.nullable()
} satisfies { [C in SessionCommandName]: z.ZodType }

export type SessionCommandResult<C extends SessionCommandName> = z.infer<(typeof SessionCommandResults)[C]>
export type SessionCommandOf<C extends SessionCommandName> = Extract<z.input<typeof SessionCommand>, { command: C }>

/** Whether a message from a client is one of the host's own commands (else it is the engine's). */
export function isSessionCommand(body: unknown): boolean {
  const name = (body as { command?: unknown } | null)?.command
  return typeof name === 'string' && SessionCommand.options.some((option) => option.shape.command.value === name)
}

/**
 * From a host to every window: the training started, learnt its run folder, or ended. `events` is
 * the run's log so far when it starts (a resume keeps the epochs before it); null: keep yours.
 */
export const SessionEvent = z.object({
  event: z.literal('session-training'),
  training: TrainingSnapshot.extend({ events: z.array(TrainEvent).nullable() })
})
export type SessionEvent = z.infer<typeof SessionEvent>
