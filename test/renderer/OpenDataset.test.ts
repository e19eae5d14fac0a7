// @vitest-environment happy-dom
// The dataset path field: a dataset that arrives from the host while a person is typing another
// path (the session restored after a reload, another window) leaves what they typed, so Open opens
// their folder; a dataset they opened shows as the host resolved it.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { DatasetReport } from '../../src/shared/protocol'

const report = (root: string): DatasetReport => ({
  root,
  layout: 'splits',
  classes: ['a', 'b'],
  splits: [],
  missing: [],
  skipped: [],
  notes: [],
  duplicates: [],
  validation: { kind: 'folder' },
  total: 0
})

vi.mock('../../src/renderer/src/client', () => ({
  client: {
    host: 'browser',
    request: vi.fn(async (command: { command: string; dir?: string }) => {
      if (command.command === 'browseFolder') return { dir: '/', parent: null, places: [], folders: [], images: 0, dataset: false }
      if (command.command === 'recentDatasets') return []
      if (command.command === 'listImages') return { files: [], total: 0 }
      if (command.command === 'scan') return report(command.dir!.replace('~', '/home/person'))
      throw new Error(`unexpected ${command.command}`)
    }),
    onEvent: () => () => {},
    onReconnect: () => () => {},
    thumbnailUrl: () => ''
  }
}))

const { default: OpenDataset } = await import('../../src/renderer/src/components/OpenDataset.vue')
const { useDatasetStore } = await import('../../src/renderer/src/stores/dataset')

beforeEach(() => setActivePinia(createPinia()))

function field() {
  const wrapper = mount(OpenDataset)
  const input = wrapper.get('[data-testid="dataset-path"]')
  return { wrapper, input, value: () => (input.element as HTMLInputElement).value }
}

describe('the dataset path field', () => {
  it('keeps a typed path when the host restores another dataset, and Open opens the typed one', async () => {
    const { wrapper, input, value } = field()
    await flushPromises()
    await input.setValue('/data/weather')
    await useDatasetStore().hydrate({ dir: '/data/hymenoptera', report: report('/data/hymenoptera') })
    await flushPromises()
    expect(value()).toBe('/data/weather')
    await wrapper.get('[data-testid="dataset-open"]').trigger('click')
    expect(wrapper.emitted('open')).toEqual([['/data/weather']])
  })

  it('shows the restored dataset when nothing was typed, and an opened one as the host resolved it', async () => {
    const { wrapper, input, value } = field()
    await flushPromises()
    await useDatasetStore().hydrate({ dir: '/data/hymenoptera', report: report('/data/hymenoptera') })
    await flushPromises()
    expect(value()).toBe('/data/hymenoptera')
    await input.setValue('~/photos')
    await wrapper.get('[data-testid="dataset-open"]').trigger('click')
    // DatasetView opens what the field emits.
    await useDatasetStore().open(wrapper.emitted<[string]>('open')![0][0])
    await flushPromises()
    expect(value()).toBe('/home/person/photos')
  })
})
