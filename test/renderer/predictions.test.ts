// @vitest-environment happy-dom
// The predictions store: each card names its model, Clear empties the list, the chosen model
// survives a reload (localStorage), a folder goes by path in groups; and the CSV and model names.
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { PredictionResult } from '../../src/shared/protocol'

vi.mock('../../src/renderer/src/client', () => ({
  client: { host: 'browser', request: vi.fn(), onEvent: () => () => {}, thumbnailUrl: (file: string) => `/thumb?path=${file}` }
}))

const { client } = await import('../../src/renderer/src/client')
const { usePredictionsStore, CHOSEN_MODEL_KEY, FOLDER_GROUP } = await import('../../src/renderer/src/stores/predictions')
const { modelName, imageNetName } = await import('../../src/renderer/src/model-name')
const { predictionsCsv } = await import('../../src/renderer/src/predictions-csv')

const RUN_A = '/home/u/.transfer-studio/runs/20261129-2231-mobilenet_v1_0.25_224-ab12'
const RUN_B = '/home/u/.transfer-studio/runs/20261129-2240-resnet50-cd34'
const runs = [
  { dir: RUN_B, startedAt: '2026-11-29T22:40', backbone: 'resnet50', data: '/d', epochs: 1, modelDir: `${RUN_B}/model`, metrics: null },
  { dir: RUN_A, startedAt: '2026-11-29T22:31', backbone: 'mobilenet_v1_0.25_224', data: '/d', epochs: 1, modelDir: `${RUN_A}/model`, metrics: null },
  { dir: '/home/u/.transfer-studio/runs/crashed', startedAt: '2026-11-29T22:00', backbone: 'resnet50', data: '/d', epochs: 0, modelDir: null, metrics: null }
]
const answer = (name: string): PredictionResult => ({
  file: name,
  predictions: [
    { label: 'ants', probability: 0.9 },
    { label: 'bees', probability: 0.1 }
  ],
  unsure: null
})
const sent: Array<Record<string, unknown>> = []

beforeEach(() => {
  setActivePinia(createPinia())
  localStorage.clear()
  sent.length = 0
  vi.mocked(client.request).mockImplementation((async (command: unknown) => {
    sent.push(command as Record<string, unknown>)
    const c = command as { command: string; images?: Array<{ name: string }>; files?: string[]; dir?: string }
    if (c.command === 'listRuns') return runs
    if (c.command === 'classifyImages') return c.images!.map((i) => answer(i.name))
    if (c.command === 'listFolderImages')
      return {
        dir: c.dir!,
        files: Array.from({ length: 20 }, (_, i) => `${c.dir}/p${i}.jpg`),
        skipped: [{ file: `${c.dir}/a.txt`, reason: 'text file, not an image' }]
      }
    if (c.command === 'predictWithModel' || c.command === 'classifyImageNet') return c.files!.map(answer)
    throw new Error(`unexpected ${c.command}`)
  }) as never)
})

const photo = (name: string) => new File([new Uint8Array(10)], name, { type: 'image/jpeg' })

describe('model names', () => {
  it('names a run model by its run folder, any other by its own folder, never by the full path', () => {
    expect(modelName(`${RUN_A}/model`)).toBe('20261129-2231-mobilenet_v1_0.25_224-ab12')
    expect(modelName('C:\\models\\ants-v2\\')).toBe('ants-v2')
    expect(modelName('/model')).toBe('model')
    expect(imageNetName('resnet50')).toBe('ImageNet (resnet50)')
  })
})

describe('predictions store', () => {
  it('offers every run with a model by name, and each card names the model that made it', async () => {
    const store = usePredictionsStore()
    await store.loadModels()
    expect(store.models.map((m) => m.name)).toEqual(['20261129-2240-resnet50-cd34', '20261129-2231-mobilenet_v1_0.25_224-ab12'])
    await store.classify([photo('one.jpg')], 'mobilenet_v1_0.25_224')
    store.choose(`${RUN_A}/model`)
    await store.classify([photo('two.jpg')], 'mobilenet_v1_0.25_224')
    expect(sent.filter((c) => c.command === 'classifyImages').map((c) => c.model ?? c.backbone)).toEqual(['mobilenet_v1_0.25_224', `${RUN_A}/model`])
    expect(store.predictions.map((p) => [p.name, p.model])).toEqual([
      ['two.jpg', '20261129-2231-mobilenet_v1_0.25_224-ab12'],
      ['one.jpg', 'ImageNet (mobilenet_v1_0.25_224)']
    ])
    store.clear()
    expect(store.predictions).toEqual([])
  })

  it('remembers the chosen model across a reload, and forgets one whose run is gone', async () => {
    usePredictionsStore().choose(`${RUN_A}/model`)
    expect(localStorage.getItem(CHOSEN_MODEL_KEY)).toBe(`${RUN_A}/model`)
    setActivePinia(createPinia())
    const reloaded = usePredictionsStore()
    await reloaded.loadModels()
    expect(reloaded.predictModel).toBe(`${RUN_A}/model`)
    localStorage.setItem(CHOSEN_MODEL_KEY, '/gone/model')
    setActivePinia(createPinia())
    const again = usePredictionsStore()
    await again.loadModels()
    expect(again.predictModel).toBeNull()
    again.choose(null)
    expect(localStorage.getItem(CHOSEN_MODEL_KEY)).toBeNull()
  })

  it('classifies a folder by path in groups with the chosen model, and counts what it skipped', async () => {
    const store = usePredictionsStore()
    store.offerModel(`${RUN_B}/model`)
    await store.classifyFolder('/photos', 'resnet50')
    const groups = sent.filter((c) => c.command === 'predictWithModel')
    expect(groups.map((c) => (c.files as string[]).length)).toEqual([FOLDER_GROUP, 20 - FOLDER_GROUP])
    expect(groups.every((c) => c.model === `${RUN_B}/model`)).toBe(true)
    expect(store.folder).toEqual({ dir: '/photos', total: 20, done: 20, skipped: 1 })
    expect(store.predictions).toHaveLength(20)
    expect(store.predictions.every((p) => p.result && p.model === '20261129-2240-resnet50-cd34' && p.preview.startsWith('/thumb'))).toBe(true)
    expect(store.csv.split('\r\n')[1]).toBe('/photos/p0.jpg,ants,0.900000,,20261129-2240-resnet50-cd34')
  })
})

describe('predictionsCsv', () => {
  it('writes one row a photo, quoting what needs it, and keeps failures with their reason', () => {
    const csv = predictionsCsv([
      {
        file: 'a,b.jpg',
        model: 'run "1"',
        result: { file: 'a,b.jpg', predictions: [{ label: 'ants', probability: 0.25 }], unsure: { reason: 'low-probability', message: 'm' } }
      },
      { file: 'c.jpg', model: 'm', result: { file: 'c.jpg', error: 'not an image' } },
      { file: 'd.jpg', model: 'm', result: null }
    ])
    expect(csv).toBe('file,label,probability,unsure,model\r\n"a,b.jpg",ants,0.250000,low-probability,"run ""1"""\r\nc.jpg,,,error: not an image,m\r\n')
  })
})
