// Runs the engine in a utility process and relays protocol messages to and from it.
import { utilityProcess, type UtilityProcess } from 'electron'
import { EngineEvent, EngineReply, type EngineCommand } from '../shared/protocol'

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void }

export class EngineHost {
  private child: UtilityProcess | undefined
  private nextId = 1
  private readonly pending = new Map<number, Pending>()

  constructor(
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly onEvent: (event: EngineEvent) => void,
    private readonly onExit: (message: string) => void
  ) {}

  private start(): UtilityProcess {
    const child = utilityProcess.fork(this.entry, [], { env: this.env, serviceName: 'Transfer Studio engine' })
    child.on('message', (message: unknown) => this.receive(message))
    child.on('exit', (code) => {
      this.child = undefined
      const reason = `The engine stopped unexpectedly (exit code ${code}); it will restart with the next request.`
      for (const { reject } of this.pending.values()) reject(new Error(reason))
      this.pending.clear()
      this.onExit(reason)
    })
    return child
  }

  request(body: EngineCommand): Promise<unknown> {
    this.child ??= this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.child!.postMessage({ id, body })
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
    this.child?.kill()
  }
}
