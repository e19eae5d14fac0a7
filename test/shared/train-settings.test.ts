import { describe, expect, it } from 'vitest'
import { TrainConfig, type TrainConfigInput } from '../../src/shared/protocol'
import { checkSetting, describeRange, NO_AUGMENTATION, TRAIN_DEFAULTS, TRAIN_RANGES, type RangedSetting } from '../../src/shared/train-settings'

// Where each ranged setting goes in a config, so every range is checked against what the schema itself accepts.
const PLACE: Record<RangedSetting, (v: number) => Partial<TrainConfigInput>> = {
  epochs: (v) => ({ epochs: v }),
  batchSize: (v) => ({ batchSize: v }),
  learningRate: (v) => ({ learningRate: v }),
  momentum: (v) => ({ momentum: v }),
  valSplit: (v) => ({ valSplit: v }),
  seed: (v) => ({ seed: v }),
  earlyStopping: (v) => ({ earlyStopping: { patience: v } }),
  reduceLr: (v) => ({ reduceLrOnPlateau: { patience: v } }),
  headEpochs: (v) => ({ twoPhase: { headEpochs: v, learningRate: 1e-4 }, epochs: 10000 }),
  fineTuneLr: (v) => ({ twoPhase: { headEpochs: 1, learningRate: v } }),
  dropout: (v) => ({ head: { dropout: v } }),
  denseUnits: (v) => ({ head: { dense: [{ units: v }] } }),
  rotate: (v) => ({ augment: { rotate: v } }),
  zoom: (v) => ({ augment: { zoom: v } }),
  shear: (v) => ({ augment: { shear: v } }),
  brightness: (v) => ({ augment: { brightness: v } })
}
const schemaAccepts = (setting: RangedSetting, value: number): boolean => TrainConfig.safeParse({ data: 'd', backbone: 'b', ...PLACE[setting](value) }).success

describe('train settings', () => {
  it('hold the defaults the schema fills in', () => {
    expect(TRAIN_DEFAULTS).toMatchObject({ epochs: 10, batchSize: 32, learningRate: 0.001, optimizer: 'adam', momentum: 0.9, valSplit: 0.2, seed: 42 })
    expect(TRAIN_DEFAULTS.freeze).toEqual({ kind: 'all' })
    expect(TRAIN_DEFAULTS.earlyStopping).toBeNull()
    expect(NO_AUGMENTATION).toEqual({ flipHorizontal: false, flipVertical: false, rotate: 0, zoom: 0, shear: 0, brightness: 0 })
  })

  it('give each range as the schema has it', () => {
    expect(TRAIN_RANGES.epochs).toEqual({ min: 1, max: 10000, minExclusive: false, maxExclusive: false, integer: true })
    expect(TRAIN_RANGES.learningRate).toEqual({ min: 0, max: 10, minExclusive: true, maxExclusive: false, integer: false })
    expect(TRAIN_RANGES.valSplit).toMatchObject({ min: 0, max: 1, minExclusive: true, maxExclusive: true })
    expect(TRAIN_RANGES.zoom).toMatchObject({ min: 0, max: 0.9 })
  })

  it('agree with the schema at and just past every bound', () => {
    for (const setting of Object.keys(TRAIN_RANGES) as RangedSetting[]) {
      const { min, max, integer } = TRAIN_RANGES[setting]
      const step = integer ? 1 : 1e-6
      for (const value of [min, min - step, min + step, max, max + step, max - step, integer ? min + 0.5 : NaN]) {
        expect(checkSetting(setting, value) === null, `${setting} = ${value}`).toBe(schemaAccepts(setting, value))
      }
    }
  })

  it('say the range in words', () => {
    expect(checkSetting('epochs', 0)).toBe('must be a whole number from 1 to 10000')
    expect(checkSetting('learningRate', 0)).toBe('must be a number above 0 and at most 10')
    expect(checkSetting('valSplit', 1)).toBe('must be a number between 0 and 1')
    expect(describeRange(TRAIN_RANGES.momentum)).toBe('a number from 0 to 0.999')
    expect(checkSetting('batchSize', 32)).toBeNull()
  })
})
