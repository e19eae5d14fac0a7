// The command line's fine-tuning flags become the run options the app's Fine-tune panel sets.
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { trainConfigFromFlags, type TrainFlags } from '../../src/cli/train-options'
import { TrainConfig } from '../../src/shared/protocol'
import { DATA } from '../helpers'

const base: TrainFlags = {
  data: path.join(DATA, 'mini', 'hymenoptera'),
  backbone: 'mobilenet_v1_0.25_224',
  freeze: { kind: 'upTo', layer: 'conv_pw_11_relu' },
  cache: true
}

describe('fine-tuning flags', () => {
  it('--bn-statistics and --head-epochs make a two-phase run with trained statistics; the second rate defaults to a tenth', () => {
    const config = TrainConfig.parse(trainConfigFromFlags({ ...base, lr: 0.01, bnStatistics: 'train', headEpochs: 3 }))
    expect(config.batchNormStatistics).toBe('train')
    expect(config.twoPhase).toEqual({ headEpochs: 3, learningRate: 0.001 })
    expect(TrainConfig.parse(trainConfigFromFlags({ ...base, headEpochs: 2, fineTuneLr: 5e-5 })).twoPhase).toEqual({ headEpochs: 2, learningRate: 5e-5 })
  })

  it('leave one phase with frozen statistics by default', () => {
    const config = TrainConfig.parse(trainConfigFromFlags(base))
    expect(config.batchNormStatistics).toBe('frozen')
    expect(config.twoPhase).toBeNull()
  })

  it('refuse a second rate without a first phase, and a first phase as long as the run', () => {
    expect(() => trainConfigFromFlags({ ...base, fineTuneLr: 1e-4 })).toThrow(/--fine-tune-lr is the second phase's rate: give --head-epochs <n> too/)
    const parsed = TrainConfig.safeParse(trainConfigFromFlags({ ...base, epochs: 4, headEpochs: 4 }))
    expect(parsed.success).toBe(false)
    expect(parsed.error?.issues[0].message).toMatch(/must be shorter than all epochs \(4\)/)
  })
})
