// @vitest-environment happy-dom
import { mount } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'

// Chart.js needs a real canvas; record the configuration the component hands it instead.
interface Config {
  data: { datasets: Array<{ stepped: unknown; tension: number }> }
  options: { scales: { y: { type: string } } }
}
const configs: Config[] = []
vi.mock('chart.js', () => {
  class Chart {
    static register() {}
    data: Config['data']
    options: Config['options']
    constructor(_canvas: unknown, config: Config) {
      this.data = config.data
      this.options = config.options
      configs.push(config)
    }
    update() {}
    destroy() {}
  }
  return { Chart, Legend: {}, LinearScale: {}, LogarithmicScale: {}, LineController: {}, LineElement: {}, PointElement: {}, Tooltip: {} }
})

const { default: LineChart } = await import('../../src/renderer/src/components/LineChart.vue')
const series = [
  {
    label: 'learning rate',
    color: 'purple',
    points: [
      { x: 0, y: 0.01 },
      { x: 1, y: 0.01 },
      { x: 2, y: 0.001 }
    ]
  }
]

describe('LineChart scales', () => {
  it('draws a learning rate on a logarithmic axis, in steps, not a smoothed line', async () => {
    const wrapper = mount(LineChart, { props: { series, yLabel: 'learning rate', yLog: true, stepped: true } })
    const config = configs.at(-1)!
    expect(config.options.scales.y.type).toBe('logarithmic')
    expect(config.data.datasets[0]).toMatchObject({ stepped: 'before', tension: 0 })
    await nextTick()
    expect(wrapper.get('.chart').attributes('data-y-scale')).toBe('logarithmic')
  })

  it('keeps a linear axis and a smoothed line otherwise', () => {
    mount(LineChart, { props: { series, yLabel: 'loss' } })
    const config = configs.at(-1)!
    expect(config.options.scales.y.type).toBe('linear')
    expect(config.data.datasets[0]).toMatchObject({ stepped: false, tension: 0.2 })
  })
})
