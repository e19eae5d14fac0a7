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
const { usePredictionsStore } = await import('../../src/renderer/src/stores/predictions')
const { client } = await import('../../src/renderer/src/client')
const { MAX_UPLOAD_BYTES, MAX_UPLOAD_CHARS, uploadBatches } = await import('../../src/renderer/src/upload-batches')
const { HeadConfig, ImageUpload } = await import('../../src/shared/protocol')

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

  it('keeps a toggle made while the tree reloads, on top of the reply or the remembered set', async () => {
    const model = useModelStore()
    await model.load()
    // The reply is held back so the click lands between the request and its answer.
    let answer: (summary: typeof SUMMARY) => void = () => {}
    vi.mocked(client.request).mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)) as never)
    const reloading = model.load()
    model.setTrainable(['conv_pw_2'], true)
    answer(SUMMARY)
    await reloading
    expect([...model.frozen].sort()).toEqual(['conv_dw_1', 'conv_dw_1_bn', 'conv_pw_2_bn'])

    // Remembered choices (a reopened dataset) are the base; a "freeze up to here" made meanwhile wins.
    vi.mocked(client.request).mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)) as never)
    const applying = model.apply({ backbone: model.backbone, head: HeadConfig.parse({}), frozen: ['conv_pw_2', 'conv_pw_2_bn'] }, 2)
    await Promise.resolve()
    model.freezeUpTo('conv_dw_1')
    answer(SUMMARY)
    await applying
    expect([...model.frozen]).toEqual(['conv_dw_1'])

    // Without a click the remembered set is what shows.
    await model.apply({ backbone: model.backbone, head: HeadConfig.parse({}), frozen: ['conv_pw_2', 'conv_pw_2_bn'] }, 2)
    expect([...model.frozen]).toEqual(['conv_pw_2', 'conv_pw_2_bn'])
  })

  it('does not carry a toggle made on another model onto the one that loads', async () => {
    const model = useModelStore()
    await model.load()
    let answer: (summary: typeof SUMMARY) => void = () => {}
    vi.mocked(client.request).mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)) as never)
    model.backbone = 'resnet50'
    const switching = model.load()
    model.setTrainable(['conv_pw_2'], true)
    answer(SUMMARY)
    await switching
    expect([...model.frozen].sort()).toEqual(['conv_dw_1', 'conv_dw_1_bn', 'conv_pw_2', 'conv_pw_2_bn'])
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

describe('predictions store: dropped photos', () => {
  it('sends them in groups that each fit the message cap, never all in one message', async () => {
    const sent: string[] = []
    vi.mocked(client.request).mockImplementation(async (command) => {
      sent.push(JSON.stringify({ id: sent.length + 1, body: command }))
      const images = (command as { images: Array<{ name: string; data: string }> }).images
      return images.map((image) => ({ file: image.name, predictions: [{ label: `bytes ${base64Length(image.data)}`, probability: 1 }] }))
    })
    const MiB = 1024 * 1024
    // ~60 MB of photos, the drop that once overflowed the 80 MiB cap, plus one too large to send at all.
    const sizes = [7 * MiB, 7 * MiB, 7 * MiB, 20 * MiB, 19 * MiB, 1024, 2048, MAX_UPLOAD_BYTES + 1]
    const files = sizes.slice(0, -1).map((size, i) => new File([new Uint8Array(size)], `photo-${i}.jpg`, { type: 'image/jpeg' }))
    // The oversized one is never read, only measured: its size alone says so.
    files.push(Object.defineProperty(new File([], 'photo-7.jpg'), 'size', { value: sizes.at(-1) }))
    const results = usePredictionsStore()
    await results.classify(files, 'mobilenet_v1_0.25_224')

    expect(sent).toHaveLength(6)
    for (const message of sent) expect(message.length).toBeLessThan(80 * MiB)
    expect(sent.map((m) => JSON.parse(m).body.images.map((i: { name: string }) => i.name))).toEqual([
      ['photo-0.jpg'],
      ['photo-1.jpg'],
      ['photo-2.jpg'],
      ['photo-3.jpg'],
      ['photo-4.jpg'],
      ['photo-5.jpg', 'photo-6.jpg']
    ])
    // Every card got its own photo's answer, in order; the oversized one a reason instead.
    const cards = results.predictions.map((p) => p.result)
    expect(cards.slice(0, 7).map((r) => (r && 'predictions' in r ? r.predictions[0].label : null))).toEqual(sizes.slice(0, 7).map((s) => `bytes ${s}`))
    expect(cards[7]).toMatchObject({
      file: 'photo-7.jpg',
      error: expect.stringMatching(/^photo-7\.jpg is 52\.5 MB: photos up to 52\.5 MB can be classified here$/)
    })
    expect(results.predicting).toBe(false)
    expect(results.predictError).toBeNull()
  })

  it('groups by bytes and by count, and a photo larger than a group goes alone', () => {
    expect(uploadBatches([5, 5, 5, 20, 1, 1], 10, 100)).toEqual([[0, 1], [2], [3], [4, 5]])
    expect(uploadBatches([1, 1, 1, 1, 1], 100, 2)).toEqual([[0, 1], [2, 3], [4]])
    expect(uploadBatches([], 10, 2)).toEqual([])
    // The renderer's limit is the protocol's.
    expect(ImageUpload.shape.data.maxLength).toBe(MAX_UPLOAD_CHARS)
  })
})

/** Decoded length of base64 text, without decoding it (this file is typed for the browser). */
function base64Length(text: string): number {
  return (text.length / 4) * 3 - (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0)
}
