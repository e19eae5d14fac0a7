// A host's side of the engine process: numbered requests, their replies, the engine's events, and
// a fresh engine when the old one dies. A training run in flight when that happens is resumed in
// the new engine from its last completed epoch, and the caller's request simply goes on. The
// same class serves the Electron host (utilityProcess) and the headless server (child_process.fork).
import { EngineEvent, EngineReply, type EngineCommandInput } from '../shared/protocol'

export interface EngineChild {
  send(message: unknown): void
  onMessage(handler: (message: unknown) => void): void
  onExit(handler: (code: number | null) => void): void
  kill(): void
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  training?: { runDir: string | null; resumes: number }
}

/** A run that crashes its engine this many times in a row is given up (it would only crash again). */
export const MAX_RESUMES = 3

export class EngineConnection {
  private child: EngineChild | undefined
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private stopping = false

  constructor(
    private readonly spawn: () => EngineChild,
    private readonly onEvent: (event: EngineEvent) => void
  ) {}

  private start(): EngineChild {
    const child = this.spawn()
    child.onMessage((message) => this.receive(message))
    child.onExit((code) => this.lost(child, code))
    return child
  }

  private lost(child: EngineChild, code: number | null): void {
    if (this.child === child) this.child = undefined
    if (this.stopping) return
    const cause = `The engine process stopped unexpectedly (exit code ${code ?? 'killed'})`
    const orphans = [...this.pending.values()]
    this.pending.clear()
    for (const request of orphans) {
      const run = request.training
      if (run?.runDir && run.resumes < MAX_RESUMES) {
        this.onEvent({ event: 'engine-restarted', message: `${cause}. It was restarted and the run continues from its last completed epoch.` })
        this.send({ command: 'resumeTraining', runDir: run.runDir }, { ...request, training: { runDir: run.runDir, resumes: run.resumes + 1 } })
      } else {
        this.onEvent({ event: 'engine-restarted', message: `${cause}; a new one starts with the next request.` })
        request.reject(new Error(run ? `${cause} before the run saved its first epoch` : cause))
      }
    }
    if (orphans.length === 0) this.onEvent({ event: 'engine-restarted', message: `${cause}; a new one starts with the next request.` })
  }

  request(body: EngineCommandInput): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const training = body.command === 'train' || body.command === 'resumeTraining'
      this.send(body, {
        resolve,
        reject,
        training: training ? { runDir: body.command === 'resumeTraining' ? body.runDir : null, resumes: 0 } : undefined
      })
    })
  }

  private send(body: EngineCommandInput, pending: Pending): void {
    this.child ??= this.start()
    const id = this.nextId++
    this.pending.set(id, pending)
    this.child.send({ id, body })
  }

  private receive(message: unknown): void {
    const reply = EngineReply.safeParse(message)
    if (reply.success) {
      const pending = this.pending.get(reply.data.id)
      this.pending.delete(reply.data.id)
      if (reply.data.ok) pending?.resolve(reply.data.result)
      else pending?.reject(new Error(reply.data.error))
      return
    }
    const event = EngineEvent.safeParse(message)
    if (!event.success) return
    if (event.data.event === 'train' && event.data.data.event === 'run') {
      const run = this.pending.get(event.data.requestId)?.training
      if (run) run.runDir = event.data.data.runDir
    }
    this.onEvent(event.data)
  }

  stop(): void {
    this.stopping = true
    this.child?.kill()
  }
}
