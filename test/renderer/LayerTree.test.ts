// @vitest-environment happy-dom
import { mount } from '@vue/test-utils'
import PrimeVue from 'primevue/config'
import { describe, expect, it } from 'vitest'
import LayerTree from '../../src/renderer/src/components/LayerTree.vue'
import { SUMMARY } from './fixtures'

function render(frozen: string[]) {
  return mount(LayerTree, { props: { summary: SUMMARY, frozen: new Set(frozen) }, global: { plugins: [[PrimeVue, { unstyled: true }]] } })
}

const blockBox = (wrapper: ReturnType<typeof render>, block: string) =>
  wrapper
    .findAll('tr')
    .find((row) => row.text().includes(block))!
    .find('[data-pc-name="pcnodecheckbox"]')
const blockInput = (wrapper: ReturnType<typeof render>, block: string) => blockBox(wrapper, block).find('input')

describe('LayerTree', () => {
  it('shows a fully trainable block as checked, a frozen one as unchecked, a partly frozen one as mixed', () => {
    const wrapper = render(['conv_dw_1', 'conv_dw_1_bn', 'conv_pw_2'])
    expect(blockBox(wrapper, 'head').attributes('data-p-checked')).toBe('true')
    expect(blockBox(wrapper, 'block_1').attributes('data-p-checked')).toBe('false')
    expect(blockBox(wrapper, 'block_1').attributes('data-p-partialchecked')).toBe('false')
    expect(blockBox(wrapper, 'block_2').attributes('data-p-partialchecked')).toBe('true')
  })

  it('toggling a block toggles all of its layers', async () => {
    const wrapper = render(['conv_dw_1', 'conv_dw_1_bn'])
    await blockInput(wrapper, 'block_1').trigger('change')
    expect(wrapper.emitted('toggle')).toEqual([[['conv_dw_1', 'conv_dw_1_bn'], true]])
    await blockInput(wrapper, 'head').trigger('change')
    expect(wrapper.emitted('toggle')![1]).toEqual([['head_pool', 'predictions'], false])
  })

  it('offers "freeze up to here" on backbone layers only', async () => {
    const wrapper = render([])
    for (const row of wrapper.findAll('button[data-pc-section="nodetogglebutton"]')) await row.trigger('click')
    await wrapper.find('[data-testid="freeze-up-to-conv_pw_2"]').trigger('click')
    expect(wrapper.emitted('freezeUpTo')).toEqual([['conv_pw_2']])
    expect(wrapper.find('[data-testid="freeze-up-to-predictions"]').exists()).toBe(false)
    expect(wrapper.text()).toContain('DepthwiseConv2D')
    expect(wrapper.text()).toContain('(None, 7, 7, 8)')
  })
})
