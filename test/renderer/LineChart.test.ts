// @vitest-environment happy-dom
import { mount } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { nextTick, ref } from 'vue'

// Chart.js needs a real canvas; record what the component hands it instead.
const charts: Array<{ data: { datasets: Array<{ data: unknown[] }> }; updates: string[] }> = []
vi.mock('chart.js', () => {
  class Chart {
    static register() {}
    data: { datasets: Array<{ data: unknown[] }> }
    updates: string[] = []
    constructor(_canvas: unknown, config: { data: { datasets: Array<{ data: unknown[] }> } }) {
      this.data = config.data
      charts.push(this)
    }
    update(mode: string) {
      this.updates.push(mode)
    }
    destroy() {}
  }
  return { Chart, Legend: {}, LinearScale: {}, LogarithmicScale: {}, LineController: {}, LineElement: {}, PointElement: {}, Tooltip: {} }
})

const { default: LineChart } = await import('../../src/renderer/src/components/LineChart.vue')

describe('LineChart', () => {
  it('redraws without animation, once per frame however many points arrive', async () => {
    const points = ref<Array<{ x: number; y: number }>>([])
    const wrapper = mount(LineChart, { props: { series: [{ label: 'loss', color: 'blue', points: points.value }], yLabel: 'loss' } })
    for (let i = 0; i < 50; i++) {
      points.value = [...points.value, { x: i, y: 1 / (i + 1) }]
      await wrapper.setProps({ series: [{ label: 'loss', color: 'blue', points: points.value }] })
    }
    await nextTick()
    await new Promise((resolve) => requestAnimationFrame(resolve))
    const chart = charts.at(-1)!
    expect(chart.data.datasets[0].data).toHaveLength(50)
    expect(chart.updates.length).toBeGreaterThan(0)
    expect(chart.updates.length).toBeLessThan(10)
    expect(new Set(chart.updates)).toEqual(new Set(['none']))
  })
})
