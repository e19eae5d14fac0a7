// Turns one validated protocol command into an engine call. Kept apart from the transport so the
// same code serves Electron's utilityProcess, a forked child and tests.
import { describeSchemaError, EngineCommand, type EngineEvent } from '../shared/protocol'
import {
  classifyImageNet,
  describeModel,
  engineInfo,
  evaluateModel,
  listBackbones,
  listImages,
  listRuns,
  predictWithModel,
  readEvaluation,
  readMetadata,
  scanDataset,
  train
} from './api'

export class ProtocolError extends Error {
  override name = 'ProtocolError'
}

export type Emit = (event: EngineEvent) => void

// One training run at a time: the two cores are its, and Stop must know what it stops.
let training: AbortController | null = null

/** Validates `body` (anything that arrived on the wire) and runs it. */
export async function dispatch(requestId: number, body: unknown, emit: Emit): Promise<unknown> {
  const parsed = EngineCommand.safeParse(body)
  if (!parsed.success) throw new ProtocolError(`Refused a malformed command: ${describeSchemaError(parsed.error)}`)
  const command = parsed.data
  switch (command.command) {
    case 'info':
      return engineInfo()
    case 'listBackbones':
      return listBackbones()
    case 'scan':
      return scanDataset(command.dir, {
        valSplit: command.valSplit,
        seed: command.seed,
        onProgress: (progress) => emit({ event: 'scan', requestId, progress })
      })
    case 'listImages':
      return listImages(command.dir, command.split, command.label, command.offset, command.limit)
    case 'classifyImageNet':
      return classifyImageNet(command.backbone, command.files, {
        top: command.top,
        onProgress: (progress) => emit({ event: 'download', requestId, progress })
      })
    case 'classifyImages': {
      const images = command.images.map((image) => ({ name: image.name, bytes: Buffer.from(image.data, 'base64') }))
      if (command.model) return predictWithModel(command.model, images, command.top)
      if (command.backbone) {
        return classifyImageNet(command.backbone, images, { top: command.top, onProgress: (progress) => emit({ event: 'download', requestId, progress }) })
      }
      throw new ProtocolError('classifyImages needs a model or a backbone')
    }
    case 'describeModel':
      return describeModel(command)
    case 'train':
    case 'resumeTraining': {
      if (training) throw new Error('A training run is already in progress: stop it first')
      training = new AbortController()
      try {
        const result = await train(command.command === 'train' ? command.config : null, {
          signal: training.signal,
          resume: command.command === 'resumeTraining' ? command.runDir : undefined,
          openedFolders: command.command === 'resumeTraining' ? command.openedFolders : undefined,
          onEvent: (data) => emit({ event: 'train', requestId, data })
        })
        return { ...result, model: undefined }
      } finally {
        training = null
      }
    }
    case 'stopTraining':
      training?.abort()
      return { stopping: training !== null }
    case 'evaluateModel':
      return evaluateModel(command.model, command.data)
    case 'readEvaluation':
      return readEvaluation(command.runDir)
    case 'listRuns':
      return listRuns()
    case 'readModel':
      return readMetadata(command.model)
  }
}
