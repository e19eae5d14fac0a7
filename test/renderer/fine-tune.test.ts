// @vitest-environment happy-dom
// The fine-tuning UI: the layer tree's cost estimate and BatchNorm modes, the two-phase and
// BatchNorm options, the phase-2 marker on the charts, and the training store's part in both
// (fed the events h10's engine sends: TrainEvent 'phase', EpochMetrics.phase).
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import PrimeVue from 'primevue/config'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import type { EngineEvent, EpochMetrics, TrainingSpeed } from '../../src/shared/protocol'
import { epochCost, forwardFlops, summaryLayers } from '../../src/shared/layer-cost'
import { SUMMARY } from './fixtures'

// Chart.js needs a real canvas: keep what the component hands it (its plugins) instead.
const charts: Array<{ plugins: Array<{ afterDatasetsDraw: (chart: unknown) => void }>; updates: string[] }> = []
vi.mock('chart.js', () => {
  class Chart {
    static register() {}
    data: unknown
    plugins: unknown
    updates: string[] = []
    constructor(_canvas: unknown, config: { data: unknown; plugins: unknown }) {
      this.data = config.data
      this.plugins = config.plugins
      charts.push(this as never)
    }
    update(mode: string) {
      this.updates.push(mode)
    }
    destroy() {}
  }
  return { Chart, Legend: {}, LinearScale: {}, LogarithmicScale: {}, LineController: {}, LineElement: {}, PointElement: {}, Tooltip: {} }
})

const listeners: Array<(event: EngineEvent) => void> = []
const requests: unknown[] = []
vi.mock('../../src/renderer/src/client', () => ({
  client: {
    host: 'browser',
    request: vi.fn(async (command: unknown) => {
      requests.push(command)
      return (command as { command: string }).command === 'measureTrainingSpeed' ? SPEED : SUMMARY
    }),
    onEvent: (listener: (event: EngineEvent) => void) => {
      listeners.push(listener)
      return () => {}
    },
    thumbnailUrl: () => ''
  }
}))

const SPEED: TrainingSpeed = {
  flopsPerSecond: 1e6,
  engine: 'onnxruntime-node 1.30.0 (CPU, 2 threads), native training step',
  method: 'calibrated once this session'
}

const { default: LayerTree } = await import('../../src/renderer/src/components/LayerTree.vue')
const { default: FineTuneOptions } = await import('../../src/renderer/src/components/FineTuneOptions.vue')
const { default: LineChart } = await import('../../src/renderer/src/components/LineChart.vue')
const { estimateEpoch, epochImages, formatSeconds, phaseTwoStart } = await import('../../src/renderer/src/fine-tune')
const { useModelStore } = await import('../../src/renderer/src/stores/model')
const { useTrainingStore } = await import('../../src/renderer/src/stores/training')

beforeEach(() => {
  setActivePinia(createPinia())
  listeners.length = 0
  requests.length = 0
})

const FROZEN_BACKBONE = new Set(['conv_dw_1', 'conv_dw_1_bn', 'conv_pw_2', 'conv_pw_2_bn'])

describe('layer cost', () => {
  it('counts 2 x parameters x output pixels for weighted layers, backward twice that past the first trainable layer', () => {
    const layers = summaryLayers(SUMMARY)
    // Fixture outputs are 7x7x8: a 64-parameter Conv2D does 2 * 64 * 49 operations; a BatchNorm 2 per output value.
    expect(forwardFlops(layers.find((l) => l.name === 'conv_pw_2')!)).toBe(2 * 64 * 49)
    expect(forwardFlops(layers.find((l) => l.name === 'conv_pw_2_bn')!)).toBe(2 * 7 * 7 * 8)
    const head = epochCost(layers, FROZEN_BACKBONE)
    expect(head.firstTrainable).toBe('predictions')
    // Only the Dense layer trains (the pooling has no weights): forward + weight gradient, no input gradient.
    expect(head.trainFlopsPerImage).toBe(2 * forwardFlops(layers.at(-1)!))
    const block2 = epochCost(layers, new Set(['conv_dw_1', 'conv_dw_1_bn']))
    const f = (name: string) => forwardFlops(layers.find((l) => l.name === name)!)
    // conv_pw_2: forward + weight gradient; the BN: forward + both gradients; pooling: forward + input gradient; Dense: all three.
    expect(block2.trainFlopsPerImage).toBe(2 * f('conv_pw_2') + 3 * f('conv_pw_2_bn') + 2 * f('head_pool') + 3 * f('predictions'))
    expect(block2.valFlopsPerImage).toBe(f('conv_pw_2') + f('conv_pw_2_bn') + f('head_pool') + f('predictions'))
    expect(block2.trainableParameters).toBe(64 + 16 + 18)
  })
})

describe('the layer tree while toggling', () => {
  const images = { train: 100, val: 20 }
  function render(frozen: Set<string>, mode: 'frozen' | 'train') {
    return mount(LayerTree, {
      props: { summary: SUMMARY, frozen, batchNormStatistics: mode, estimate: estimateEpoch(SUMMARY, frozen, images, SPEED) },
      global: { plugins: [[PrimeVue, { unstyled: true }]] }
    })
  }
  const expand = async (wrapper: ReturnType<typeof render>) => {
    for (const row of wrapper.findAll('button[data-pc-section="nodetogglebutton"]')) await row.trigger('click')
  }

  it('shows the trainable parameter count and the time per epoch, which grows as layers are unfrozen', () => {
    const head = estimateEpoch(SUMMARY, FROZEN_BACKBONE, images, SPEED)
    const more = estimateEpoch(SUMMARY, new Set(['conv_dw_1', 'conv_dw_1_bn']), images, SPEED)
    const cost = epochCost(summaryLayers(SUMMARY), new Set(['conv_dw_1', 'conv_dw_1_bn']))
    expect(more.seconds).toBeCloseTo((cost.trainFlopsPerImage * 100 + cost.valFlopsPerImage * 20) / 1e6, 10)
    expect(more.seconds!).toBeGreaterThan(head.seconds!)
    const wrapper = render(new Set(['conv_dw_1', 'conv_dw_1_bn']), 'frozen')
    const text = wrapper.find('[data-testid="tree-estimate"]').text()
    expect(text).toContain('98 trainable parameters')
    expect(text).toContain('per epoch')
    expect(text).toContain('calibrated once this session')
  })

  it('words the time as a person reads it: "under a second", else "about" a rounded time', () => {
    expect(formatSeconds(0.4)).toBe('under a second')
    expect(formatSeconds(12.4)).toBe('about 12 s')
    expect(formatSeconds(600)).toBe('about 10 min')
    expect(formatSeconds(3 * 3600)).toBe('about 3.0 h')
    const fast = { ...SPEED, flopsPerSecond: 1e15 }
    expect(estimateEpoch(SUMMARY, new Set(['conv_dw_1', 'conv_dw_1_bn']), images, fast).text).toContain('98 trainable parameters · under a second per epoch')
  })

  it('says why there is no time yet: no dataset, speed still being measured', () => {
    expect(estimateEpoch(SUMMARY, FROZEN_BACKBONE, null, SPEED).text).toMatch(/open a dataset/)
    expect(estimateEpoch(SUMMARY, FROZEN_BACKBONE, images, null).text).toMatch(/measuring this machine's speed/)
    expect(estimateEpoch(SUMMARY, new Set(summaryLayers(SUMMARY).map((l) => l.name)), images, SPEED).text).toMatch(/nothing trains/)
  })

  it('marks each unfrozen BatchNormalization with its mode, and no frozen one', async () => {
    const wrapper = render(new Set(['conv_dw_1', 'conv_dw_1_bn']), 'frozen')
    await expand(wrapper)
    expect(wrapper.find('[data-testid="bn-mode-conv_pw_2_bn"]').text()).toBe('statistics frozen (inference mode)')
    expect(wrapper.find('[data-testid="bn-mode-conv_dw_1_bn"]').exists()).toBe(false)
    expect(wrapper.find('[data-testid="bn-mode-conv_pw_2"]').exists()).toBe(false)
    await wrapper.setProps({ batchNormStatistics: 'train' })
    expect(wrapper.find('[data-testid="bn-mode-conv_pw_2_bn"]').text()).toBe('batch statistics, moving averages updated')
  })
})

describe('fine-tuning options', () => {
  it('two phases are off by default; on, they get head epochs and a phase-2 rate, checked against the epochs', async () => {
    const wrapper = mount(FineTuneOptions, { props: { batchNormStatistics: 'frozen', twoPhase: null, epochs: 9 } })
    expect(wrapper.find('[data-testid="two-phase-head-epochs"]').exists()).toBe(false)
    await wrapper.find('[data-testid="two-phase"]').setValue(true)
    expect(wrapper.emitted('update:twoPhase')![0]).toEqual([{ headEpochs: 3, learningRate: 1e-4 }])
    await wrapper.setProps({ twoPhase: { headEpochs: 3, learningRate: 1e-4 } })
    await wrapper.find('[data-testid="two-phase-lr"]').setValue('0.00002')
    expect(wrapper.emitted('update:twoPhase')![1]).toEqual([{ headEpochs: 3, learningRate: 2e-5 }])
    await wrapper.setProps({ twoPhase: { headEpochs: 9, learningRate: 1e-4 } })
    expect(wrapper.find('[data-testid="two-phase-error"]').text()).toMatch(/fewer than the 9 epochs/)
    await wrapper.find('[data-testid="two-phase"]').setValue(false)
    expect(wrapper.emitted('update:twoPhase')!.at(-1)).toEqual([null])
    await wrapper.find('[data-testid="bn-statistics"]').setValue('train')
    expect(wrapper.emitted('update:batchNormStatistics')).toEqual([['train']])
  })

  it('the training settings carry batchNormStatistics, and twoPhase only when on', async () => {
    const model = useModelStore()
    const training = useTrainingStore()
    expect(model.batchNormStatistics).toBe('frozen')
    const first = training as unknown as { start: () => Promise<void> }
    await first.start()
    expect(requests.at(-1)).toMatchObject({ command: 'train', config: { batchNormStatistics: 'frozen' } })
    expect((requests.at(-1) as { config: object }).config).not.toHaveProperty('twoPhase')
    model.batchNormStatistics = 'train'
    model.twoPhase = { headEpochs: 2, learningRate: 1e-5 }
    await first.start()
    expect(requests.at(-1)).toMatchObject({ config: { batchNormStatistics: 'train', twoPhase: { headEpochs: 2, learningRate: 1e-5 } } })
  })

  it('the speed is measured once per session however often the view asks', async () => {
    const model = useModelStore()
    await Promise.all([model.measureSpeed(), model.measureSpeed()])
    await model.measureSpeed()
    expect(requests.filter((r) => (r as { command: string }).command === 'measureTrainingSpeed')).toHaveLength(1)
    expect(model.speed).toEqual(SPEED)
  })
})

const metrics = (epoch: number, phase?: 1 | 2): EpochMetrics & { phase?: 1 | 2 } => ({
  epoch,
  loss: 1,
  acc: 0.5,
  val_loss: 1,
  val_acc: 0.5,
  lr: 1e-3,
  seconds: 1,
  ...(phase ? { phase } : {})
})

describe('the phase-2 marker', () => {
  it('sits after the last phase-1 epoch, from the epochs or from the phase event', () => {
    expect(phaseTwoStart([metrics(1, 1), metrics(2, 1), metrics(3, 2)], null)).toBe(2)
    expect(phaseTwoStart([metrics(1), metrics(2)], { event: 'phase', phase: 2, epoch: 3, message: '' })).toBe(2)
    expect(phaseTwoStart([metrics(1, 1)], null)).toBeNull()
  })

  it('the training store places it from the engine events', () => {
    const training = useTrainingStore()
    const send = (data: unknown) => listeners.forEach((l) => l({ event: 'train', requestId: 1, data } as EngineEvent))
    send({ event: 'epoch', epochs: 4, eta: 0, best: true, ...metrics(1, 1) })
    expect(training.phaseTwoAt).toBeNull()
    send({ event: 'phase', phase: 2, epoch: 2, message: 'Phase 2: training the unfrozen layers at 1e-5' })
    expect(training.phaseTwoAt).toBe(1)
    expect(training.status).toBe('Phase 2: training the unfrozen layers at 1e-5')
    send({ event: 'epoch', epochs: 4, eta: 0, best: true, ...metrics(2, 2) })
    expect(training.phaseTwoAt).toBe(1)
  })

  it('LineChart draws a dashed vertical line at the marker, only inside the plot', async () => {
    const wrapper = mount(LineChart, {
      props: { series: [{ label: 'loss', color: 'blue', points: [{ x: 1, y: 1 }] }], yLabel: 'loss', markers: [{ x: 2, label: 'phase 2' }] }
    })
    await nextTick()
    const plugin = charts.at(-1)!.plugins[0]
    const calls: string[] = []
    const ctx = new Proxy({} as Record<string, unknown>, {
      get: (_t, name: string) =>
        name === 'setLineDash' || name === 'moveTo' || name === 'lineTo' || name === 'fillText'
          ? (...args: unknown[]) => calls.push(`${name}(${args.join(',')})`)
          : () => {},
      set: () => true
    })
    const fake = { ctx, chartArea: { left: 0, right: 100, top: 10, bottom: 90 }, scales: { x: { getPixelForValue: (x: number) => x * 20 } } }
    plugin.afterDatasetsDraw(fake)
    expect(calls).toEqual(['setLineDash(4,3)', 'moveTo(40,10)', 'lineTo(40,90)', 'fillText(phase 2,44,22)'])
    calls.length = 0
    await wrapper.setProps({ markers: [{ x: 9, label: 'phase 2' }] })
    plugin.afterDatasetsDraw(fake)
    expect(calls).toEqual([])
    expect(charts.at(-1)!.updates).toContain('none')
  })
})

describe('epoch images', () => {
  it('from a validation folder or a split of train', () => {
    const base = { root: '/d', layout: 'splits' as const, classes: ['a', 'b'], missing: [], skipped: [], notes: [], duplicates: [], total: 0 }
    const splits = [
      { name: 'train' as const, source: '', counts: {}, total: 100 },
      { name: 'val' as const, source: '', counts: {}, total: 30 }
    ]
    expect(epochImages({ ...base, splits, validation: { kind: 'folder' } })).toEqual({ train: 100, val: 30 })
    expect(epochImages({ ...base, splits: splits.slice(0, 1), validation: { kind: 'split', fraction: 0.2, seed: 1 } })).toEqual({ train: 80, val: 20 })
    expect(epochImages(null)).toBeNull()
  })
})
