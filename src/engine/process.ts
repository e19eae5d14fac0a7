// Entry point of the engine process. The Electron host starts it with utilityProcess.fork, the
// headless server with child_process.fork; both speak the protocol of src/shared. A crash here
// ends this process only, never the window.
import { EngineRequest, type EngineEvent, type EngineReply } from '../shared/protocol'
import { EngineSession } from './dispatch'

interface Transport {
  send(message: EngineReply | EngineEvent): void
  onMessage(handler: (message: unknown) => void): void
}

function transport(): Transport {
  const parentPort = (process as unknown as { parentPort?: Electron.ParentPort }).parentPort
  if (parentPort) {
    return {
      send: (message) => parentPort.postMessage(message),
      onMessage: (handler) => parentPort.on('message', (event) => handler(event.data))
    }
  }
  if (process.send) {
    return {
      send: (message) => process.send!(message),
      onMessage: (handler) => process.on('message', handler)
    }
  }
  throw new Error('The engine process must be started by a host (utilityProcess.fork or child_process.fork).')
}

const channel = transport()
const session = new EngineSession()
process.once('disconnect', () => session.close())

channel.onMessage(async (message) => {
  const request = EngineRequest.safeParse(message)
  if (!request.success) {
    // Without a valid id there is nobody to answer; say so on the host's log instead.
    process.stderr.write(`engine: ignored a message that is not a request\n`)
    return
  }
  const { id, body } = request.data
  try {
    const result = await session.dispatch(id, body, (event) => channel.send(event))
    channel.send({ id, ok: true, result })
  } catch (error) {
    channel.send({ id, ok: false, error: (error as Error).message })
  }
})
