// Turns one validated protocol command into an engine call. Kept apart from the transport so the
// same code serves Electron's utilityProcess, a forked child and tests.
import { describeSchemaError, EngineCommand, type EngineEvent } from '../shared/protocol'
import { classifyImageNet, engineInfo, listBackbones, scanDataset } from './api'

export class ProtocolError extends Error {
  override name = 'ProtocolError'
}

export type Emit = (event: EngineEvent) => void

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
    case 'classifyImageNet':
      return classifyImageNet(command.backbone, command.files, {
        top: command.top,
        onProgress: (progress) => emit({ event: 'download', requestId, progress })
      })
  }
}
