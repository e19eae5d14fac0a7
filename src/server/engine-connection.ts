// A host's side of the engine process: numbered requests, their replies, the engine's events, and
// a fresh engine when the old one dies. The same class serves the Electron host (utilityProcess)
// and the headless server (child_process.fork); only the way a child is started differs.
import { EngineEvent, EngineReply, type EngineCommandInput } from '../shared/protocol'

export interface EngineChild {
  send(message: unknown): void
  onMessage(handler: (message: unknown) => void): void
  onExit(handler: (code: number | null) => void): void
  kill(): void
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void }

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
    child.onExit((code) => {
      if (this.child === child) this.child = undefined
      if (this.stopping) return
      const message = `The engine process stopped unexpectedly (exit code ${code ?? 'none'}); a new one starts with the next request.`
      for (const { reject } of this.pending.values()) reject(new Error(message))
      this.pending.clear()
      this.onEvent({ event: 'engine-restarted', message })
    })
    return child
  }

  request(body: EngineCommandInput): Promise<unknown> {
    this.child ??= this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.child!.send({ id, body })
    })
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
    if (event.success) this.onEvent(event.data)
  }

  stop(): void {
    this.stopping = true
    this.child?.kill()
  }
}
