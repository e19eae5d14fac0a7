// The engine as a child process of a Node host (the headless server, tests): the EngineChild shape
// the engine connection drives. Electron's main makes the same shape from a utilityProcess.
import { fork } from 'node:child_process'
import { engineEnvironment } from '../engine/environment'
import type { EngineChild } from './engine-connection'

export interface EngineEntry {
  /** The engine's entry file: src/engine/process.ts from a checkout, out/main/engine.js built. */
  entry: string
  /** Node options for it (tsx's loader from a checkout). */
  execArgv: string[]
}

export function forkEngine(engine: EngineEntry, home: string): EngineChild {
  const child = fork(engine.entry, [], {
    execArgv: engine.execArgv,
    env: engineEnvironment(home),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return {
    send: (message) => child.send(message as object),
    onMessage: (handler) => child.on('message', handler),
    onExit: (handler) => child.on('exit', handler),
    kill: () => child.kill()
  }
}
