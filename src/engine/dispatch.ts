// Turns one validated protocol command into an engine call. Kept apart from the transport so the
// same code serves Electron's utilityProcess, a forked child and tests.
import { describeSchemaError, EngineCommand, type DownloadProgress, type EngineEvent, type TrainEvent } from '../shared/protocol'
import type { CommandName, CommandOf, CommandResult, TrainOutcome } from '../shared/results'
import {
  classifyImageNet,
  describeModel,
  engineInfo,
  ensureSampleDataset,
  evaluateModel,
  exportKerasModel,
  FeatureMemo,
  findLearningRate,
  importedModelDir,
  importKerasModel,
  listBackbones,
  listFolderImages,
  listImages,
  listRuns,
  predictWithModel,
  readEvaluation,
  resumeRun,
  readMetadata,
  scanDataset,
  ScannedDatasets,
  train,
  trainingSpeed,
  type TrainResult
} from './api'
import { deleteRun, exportRunCsv, renameRun } from './run-manage'
import { readRunHistory } from './runs'

export class ProtocolError extends Error {
  override name = 'ProtocolError'
}

export type Emit = (event: EngineEvent) => void

interface Context {
  requestId: number
  emit: Emit
  session: EngineSession
}

type Handlers = { [C in CommandName]: (command: CommandOf<C>, context: Context) => Promise<CommandResult<C>> }

const download =
  ({ requestId, emit }: Context) =>
  (progress: DownloadProgress) =>
    emit({ event: 'download', requestId, progress })
const notices =
  ({ requestId, emit }: Context) =>
  (message: string) =>
    emit({ event: 'notice', requestId, message })
const trainEvents =
  ({ requestId, emit }: Context) =>
  (data: TrainEvent) =>
    emit({ event: 'train', requestId, data })

const handlers: Handlers = {
  info: () => engineInfo(),
  listBackbones: () => listBackbones(),
  scan: (command, { requestId, emit, session }) =>
    scanDataset(
      command.dir,
      { valSplit: command.valSplit, seed: command.seed, onProgress: (progress) => emit({ event: 'scan', requestId, progress }) },
      session.datasets
    ),
  listImages: (command, { session }) => listImages(session.datasets, command.dir, command.split, command.label, command.offset, command.limit),
  listFolderImages: (command) => listFolderImages(command.dir),
  classifyImageNet: (command, context) =>
    classifyImageNet(command.backbone, command.files, { top: command.top, onProgress: download(context), onNotice: notices(context) }),
  classifyImages: async (command, context) => {
    const images = command.images.map((image) => ({ name: image.name, bytes: Buffer.from(image.data, 'base64') }))
    if (command.model) return predictWithModel(command.model, images, command.top)
    if (command.backbone) return classifyImageNet(command.backbone, images, { top: command.top, onProgress: download(context), onNotice: notices(context) })
    throw new ProtocolError('classifyImages needs a model or a backbone')
  },
  // Describing a model loads its backbone: the first time, that is the weights' download.
  describeModel: (command, context) => describeModel({ ...command, onProgress: download(context), onNotice: notices(context) }),
  // The calibration builds tfjs models: the backend first.
  measureTrainingSpeed: async () => (await engineInfo(), trainingSpeed()),
  train: (command, context) =>
    context.session.exclusive('starting another', async (signal) =>
      withoutModel(await train(command.config, { signal, features: context.session.features, onEvent: trainEvents(context) }))
    ),
  resumeTraining: (command, context) =>
    context.session.exclusive('resuming one', async (signal) =>
      withoutModel(
        await resumeRun(command.runDir, {
          signal,
          out: command.out,
          openedFolders: command.openedFolders,
          features: context.session.features,
          onEvent: trainEvents(context)
        })
      )
    ),
  findLearningRate: (command, context) =>
    context.session.exclusive('finding a learning rate (they would compete for the same cores)', (signal) =>
      findLearningRate(command.config, { signal, features: context.session.features, onEvent: trainEvents(context) })
    ),
  stopTraining: async (_command, { session }) => ({ stopping: session.stop() }),
  predictWithModel: (command) => predictWithModel(command.model, command.files, command.top),
  evaluateModel: (command) => evaluateModel(command.model, command.data),
  readEvaluation: (command) => readEvaluation(command.runDir),
  listRuns: () => listRuns(),
  readModel: (command) => readMetadata(command.model),
  importKeras: async (command) => {
    const out = command.out ?? (await importedModelDir(command.file))
    return { ...(await importKerasModel(command.file, out, command)), dir: out }
  },
  exportKeras: async (command) => ({ file: await exportKerasModel(command.model, command.out) }),
  downloadSample: (command, context) => ensureSampleDataset(command.sample, { onProgress: download(context), onNotice: notices(context) }),
  renameRun: async (command) => ({ name: await renameRun(command.runDir, command.name) }),
  deleteRun: async (command) => ({ deleted: await deleteRun(command.runDir) }),
  runHistory: async (command) => ({ history: await readRunHistory(command.runDir) }),
  exportRunCsv: (command) => exportRunCsv(command.runDir)
}

/** The result without the live model a caller in this process may keep (nothing else crosses a wire). */
function withoutModel({ model: _model, ...outcome }: TrainResult): TrainOutcome {
  return outcome
}

/**
 * The engine's state for one host connection: the run in progress, the datasets scanned last and
 * the features computed last.
 * The engine process makes one at start; tests make fresh ones.
 */
export class EngineSession {
  /** The training run or learning-rate search in progress: one at a time, the cores are its. */
  private running: AbortController | null = null
  readonly datasets = new ScannedDatasets()
  /** Features of the last runs, kept in memory: the app trains many times on one dataset. */
  readonly features = new FeatureMemo()

  /** Validates `body` (anything that arrived on the wire) and runs it. */
  async dispatch(requestId: number, body: unknown, emit: Emit): Promise<CommandResult<CommandName>> {
    const parsed = EngineCommand.safeParse(body)
    if (!parsed.success) throw new ProtocolError(`Refused a malformed command: ${describeSchemaError(parsed.error)}`)
    const command = parsed.data
    const handler = handlers[command.command] as (command: EngineCommand, context: Context) => Promise<CommandResult<CommandName>>
    return handler(command, { requestId, emit, session: this })
  }

  /** Runs `run` unless another run is in progress; Stop aborts its signal. */
  async exclusive<T>(what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.running) throw new Error(`A training run is already in progress: stop it before ${what}`)
    const controller = new AbortController()
    this.running = controller
    try {
      return await run(controller.signal)
    } finally {
      this.running = null
    }
  }

  /** Asks the run in progress to stop after its current batch; false when there is none. */
  stop(): boolean {
    this.running?.abort()
    return this.running !== null
  }

  close(): void {
    this.stop()
    this.datasets.clear()
    this.features.clear()
  }
}
