// @vitest-environment happy-dom
// While a reopened dataset's remembered choices are read and applied, the session says it is busy
// (the backbone cards wait on it), so a card clicked meanwhile is not undone when they arrive.
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { SUMMARY } from './fixtures'

let answerRead: (choices: null) => void = () => {}
vi.mock('../../src/renderer/src/client', () => ({
  client: {
    host: 'browser',
    request: vi.fn(async (command: { command: string }) =>
      command.command === 'readChoices' ? new Promise<null>((resolve) => (answerRead = resolve)) : command.command === 'saveChoices' ? null : SUMMARY
    ),
    onEvent: () => () => {},
    onReconnect: () => () => {},
    thumbnailUrl: () => ''
  }
}))

const { useSessionStore } = await import('../../src/renderer/src/stores/session')
const { useModelStore } = await import('../../src/renderer/src/stores/model')

beforeEach(() => setActivePinia(createPinia()))

describe('session store: remembered choices', () => {
  it('is busy from the moment a dataset asks for its choices until they are on screen', async () => {
    const session = useSessionStore()
    const model = useModelStore()
    expect(session.busy).toBe(false)
    const restored = session.restoreChoices('/data/weather', 4)
    expect(session.busy).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(session.busy, 'still reading the choices').toBe(true)
    answerRead(null)
    await restored
    expect(session.busy).toBe(false)
    expect(model.summary).not.toBeNull()
  })
})
