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
  FolderImages,
  ImagePage,
  LrFinderResult,
  ModelMetadata,
  ModelSummary,
  TrainingSpeed,
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
  seconds: z.number(),
  /** The epoch whose weights were saved; null when nothing was trained (no model was written). */
  savedEpoch: z.number().int().nullable().optional(),
  bestEpoch: z.number().int().nullable().optional()
})
export type TrainOutcome = z.infer<typeof TrainOutcome>

export type CommandName = EngineCommand['command']

export const CommandResults = {
  info: BackendInfo,
  listBackbones: z.array(BackboneInfo),
  scan: DatasetReport,
  listImages: ImagePage,
  listFolderImages: FolderImages,
  classifyImageNet: z.array(PredictionResult),
  classifyImages: z.array(PredictionResult),
  describeModel: ModelSummary,
  measureTrainingSpeed: TrainingSpeed,
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
  exportKeras: z.object({ file: z.string() }),
  /** The sample's folder, and whether it was downloaded now (false: it was there already). */
  downloadSample: z.object({ dir: z.string(), downloaded: z.boolean() }),
  renameRun: z.object({ name: z.string().nullable() }),
  deleteRun: z.object({ deleted: z.string() }),
  runHistory: z.object({ history: z.array(EpochMetrics) }),
  exportRunCsv: z.object({ file: z.string(), csv: z.string() })
} satisfies { [C in CommandName]: z.ZodType }

export type CommandResult<C extends CommandName> = z.infer<(typeof CommandResults)[C]>
/** The command named C, as validated (defaults filled in). */
export type CommandOf<C extends CommandName> = Extract<EngineCommand, { command: C }>
/** The command named C, as a sender writes it. */
export type CommandInputOf<C extends CommandName> = Extract<EngineCommandInput, { command: C }>
