// @vitest-environment happy-dom
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { EngineEvent } from '../../src/shared/protocol'
import { SUMMARY } from './fixtures'

const listeners: Array<(event: EngineEvent) => void> = []
vi.mock('../../src/renderer/src/client', () => ({
  client: {
    host: 'browser',
    request: vi.fn(async () => SUMMARY),
    onEvent: (listener: (event: EngineEvent) => void) => {
      listeners.push(listener)
      return () => {}
    },
    thumbnailUrl: () => ''
  }
}))

const { useModelStore } = await import('../../src/renderer/src/stores/model')
const { useTrainingStore } = await import('../../src/renderer/src/stores/training')

beforeEach(() => {
  setActivePinia(createPinia())
  listeners.length = 0
})

describe('model store', () => {
  it('totals follow the toggles at once, as Keras counts them', async () => {
    const model = useModelStore()
    await model.load()
    expect(model.totals).toEqual({ total: 218, trainable: 18, nonTrainable: 200 })
    model.setTrainable(['conv_pw_2', 'conv_pw_2_bn'], true)
    // A trainable BatchNormalization trains gamma and beta, never its moving statistics.
    expect(model.totals).toEqual({ total: 218, trainable: 18 + 64 + 16, nonTrainable: 218 - 98 })
  })

  it('"freeze up to here" freezes the backbone to that layer and opens the rest', async () => {
    const model = useModelStore()
    await model.load()
    model.freezeUpTo('conv_dw_1_bn')
    expect([...model.frozen]).toEqual(['conv_dw_1', 'conv_dw_1_bn'])
    expect(model.freezeSpec).toEqual({ kind: 'layers', frozen: ['conv_dw_1', 'conv_dw_1_bn'] })
  })
})

describe('training store', () => {
  it('turns engine events into chart series and progress', () => {
    const training = useTrainingStore()
    training.settings.epochs = 2
    const send = (data: Extract<EngineEvent, { event: 'train' }>['data']) => listeners.forEach((l) => l({ event: 'train', requestId: 1, data }))
    send({ event: 'path', path: 'cached-features', reason: 'frozen' })
    send({ event: 'batch', epoch: 1, batch: 1, batches: 4, loss: 1.2, acc: 0.4, eta: 8 })
    send({ event: 'batch', epoch: 1, batch: 2, batches: 4, loss: 1.1, acc: 0.5, eta: 6 })
    send({ event: 'epoch', epoch: 1, epochs: 2, loss: 1.0, acc: 0.5, val_loss: 0.9, val_acc: 0.6, lr: 0.001, seconds: 2, eta: 2, best: true })
    expect(training.batches.map((b) => b.x)).toEqual([0.25, 0.5])
    expect(training.epochs).toEqual([{ epoch: 1, loss: 1.0, acc: 0.5, val_loss: 0.9, val_acc: 0.6, lr: 0.001, seconds: 2 }])
    expect(training.progress).toEqual({ done: 2, total: 8, eta: 2 })
    expect(training.fraction).toBe(0.25)
    expect(training.path).toEqual({ path: 'cached-features', reason: 'frozen' })
  })
})
