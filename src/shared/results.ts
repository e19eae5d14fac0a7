// What each engine command answers: one command → result map (Zettlr's IPCAPI idiom), so the
// engine's handler table, the hosts and the renderer's client all take their types from here, and a
// handler that answers something else does not compile. The results are schemas too (tests check
// real answers against them).
import { z } from 'zod'
import {
  BackboneInfo,
  BackendInfo,
  DatasetReport,
  EpochMetrics,
  EvaluationReport,
  ImagePage,
  LrFinderResult,
  ModelMetadata,
  ModelSummary,
  PredictionResult,
  RunSummary,
  type EngineCommand,
  type EngineCommandInput
} from './protocol'

/** A finished (completed, early-stopped or stopped) training run. */
export const TrainOutcome = z.object({
  runDir: z.string(),
  modelDir: z.string(),
  history: z.array(EpochMetrics),
  path: z.enum(['cached-features', 'end-to-end']),
  stopped: z.enum(['completed', 'early-stopping', 'stopped']),
  valAcc: z.number().nullable(),
  testAcc: z.number().nullable(),
  seconds: z.number()
})
export type TrainOutcome = z.infer<typeof TrainOutcome>

export type CommandName = EngineCommand['command']

export const CommandResults = {
  info: BackendInfo,
  listBackbones: z.array(BackboneInfo),
  scan: DatasetReport,
  listImages: ImagePage,
  classifyImageNet: z.array(PredictionResult),
  classifyImages: z.array(PredictionResult),
  describeModel: ModelSummary,
  train: TrainOutcome,
  resumeTraining: TrainOutcome,
  findLearningRate: LrFinderResult,
  stopTraining: z.object({ stopping: z.boolean() }),
  predictWithModel: z.array(PredictionResult),
  evaluateModel: EvaluationReport,
  readEvaluation: EvaluationReport,
  listRuns: z.array(RunSummary),
  readModel: ModelMetadata,
  /** The imported model's metadata, and the folder it was saved in. */
  importKeras: ModelMetadata.extend({ dir: z.string() }),
  exportKeras: z.object({ file: z.string() })
} satisfies { [C in CommandName]: z.ZodType }

export type CommandResult<C extends CommandName> = z.infer<(typeof CommandResults)[C]>
/** The command named C, as validated (defaults filled in). */
export type CommandOf<C extends CommandName> = Extract<EngineCommand, { command: C }>
/** The command named C, as a sender writes it. */
export type CommandInputOf<C extends CommandName> = Extract<EngineCommandInput, { command: C }>
