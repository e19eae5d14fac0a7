// Turns `transfer-studio train` flags into the engine's TrainConfig.
import path from 'node:path'
import { InvalidArgumentError } from 'commander'
import { backboneSpec } from '../engine/backbones/registry'
import type { Augmentation, FreezeSpec, HeadConfig, TrainConfigInput } from '../shared/protocol'
import { checkSetting, TRAIN_DEFAULTS } from '../shared/train-settings'
import { UsageError } from './usage'

/** Strengths used when --augment names a transform without one, close to common Keras recipes. */
export const AUGMENT_DEFAULTS = { rotate: 15, zoom: 0.1, shear: 10, brightness: 0.2 } as const

/** "flip,rotate=30,zoom" → Augmentation. `flip` is horizontal, `vflip` vertical. */
export function parseAugment(value: string): Partial<Augmentation> {
  const out: Partial<Augmentation> = {}
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, strength] = part.split('=')
    const number = strength === undefined ? undefined : Number(strength)
    if (number !== undefined && !Number.isFinite(number)) throw new InvalidArgumentError(`"${part}": the strength must be a number`)
    if (name === 'flip' || name === 'hflip') out.flipHorizontal = true
    else if (name === 'vflip') out.flipVertical = true
    else if (name in AUGMENT_DEFAULTS) {
      const transform = name as keyof typeof AUGMENT_DEFAULTS
      const problem = checkSetting(transform, number ?? AUGMENT_DEFAULTS[transform])
      if (problem) throw new InvalidArgumentError(`"${part}": the strength ${problem}`)
      out[transform] = number ?? AUGMENT_DEFAULTS[transform]
    } else throw new InvalidArgumentError(`unknown augmentation "${name}" (use flip, vflip, rotate, zoom, shear, brightness)`)
  }
  return out
}

export function parseFreeze(value: string): FreezeSpec {
  if (value === 'all' || value === 'none') return { kind: value }
  return { kind: 'upTo', layer: value }
}

export function parseDense(value: string): number[] {
  const units = value.split(',').map((v) => (v.trim() === '' ? NaN : Number(v.trim())))
  const problem = units.map((u) => checkSetting('denseUnits', u)).find(Boolean)
  if (problem) throw new InvalidArgumentError(`each layer size ${problem}, such as 256,128`)
  return units
}

export interface TrainFlags {
  data: string
  backbone: string
  /** A saved model to continue training (TrainConfig.startFrom); names the run in place of a backbone. */
  from?: string
  val?: string
  valSplit?: number
  test?: string
  freeze: FreezeSpec
  epochs?: number
  batchSize?: number
  lr?: number
  optimizer?: 'adam' | 'rmsprop' | 'sgd'
  momentum?: number
  augment?: Partial<Augmentation>
  earlyStopping?: number
  reduceLr?: number
  bnStatistics?: 'frozen' | 'train'
  headEpochs?: number
  fineTuneLr?: number
  seed?: number
  out?: string
  pooling?: 'avg' | 'flatten'
  dense?: number[]
  dropout?: number
  batchNorm?: boolean
  headInit?: HeadConfig['init']
  cache: boolean
}

/** Throws UnknownBackboneError (one line naming the backbones that exist) for an unknown --backbone. */
export function trainConfigFromFlags(flags: TrainFlags): TrainConfigInput {
  if (!flags.from) backboneSpec(flags.backbone)
  if (flags.fineTuneLr !== undefined && flags.headEpochs === undefined)
    throw new UsageError("--fine-tune-lr is the second phase's rate: give --head-epochs <n> too")
  const learningRate = flags.lr ?? TRAIN_DEFAULTS.learningRate
  const dropout = flags.dropout ?? 0
  const head: Partial<HeadConfig> = {
    pooling: flags.pooling ?? 'avg',
    // With Dense layers, --dropout follows each of them (the Keras recipes); without, it follows pooling.
    dropout: flags.dense?.length ? 0 : dropout,
    dense: (flags.dense ?? []).map((units) => ({ units, activation: 'relu' as const, batchNorm: flags.batchNorm ?? false, dropout })),
    init: flags.headInit
  }
  return {
    data: flags.data,
    backbone: flags.from ? (flags.backbone ?? path.basename(path.resolve(flags.from))) : flags.backbone,
    ...(flags.from ? { startFrom: path.resolve(flags.from) } : {}),
    val: flags.val,
    test: flags.test,
    valSplit: flags.valSplit,
    seed: flags.seed,
    head: head as HeadConfig,
    freeze: flags.freeze,
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    learningRate: flags.lr,
    optimizer: flags.optimizer,
    momentum: flags.momentum,
    augment: flags.augment ? (flags.augment as Augmentation) : null,
    earlyStopping: flags.earlyStopping !== undefined ? { monitor: 'val_loss', patience: flags.earlyStopping, restoreBest: true } : null,
    reduceLrOnPlateau: flags.reduceLr !== undefined ? { monitor: 'val_loss', factor: 0.1, patience: flags.reduceLr, minLr: 0 } : null,
    batchNormStatistics: flags.bnStatistics,
    twoPhase: flags.headEpochs !== undefined ? { headEpochs: flags.headEpochs, learningRate: flags.fineTuneLr ?? learningRate / 10 } : null,
    out: flags.out,
    cacheFeatures: flags.cache
  }
}
