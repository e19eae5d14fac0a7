// The training settings' defaults and ranges, read from the TrainConfig schema (through zod's own
// JSON Schema export) so the command line, the form and the engine cannot disagree about them.
import { z } from 'zod'
import { Augmentation, TrainConfig } from './protocol'

/** A number setting's allowed values, as the schema states them. */
export interface NumberRange {
  min: number
  max: number
  /** The value must be above min (not equal to it). */
  minExclusive: boolean
  maxExclusive: boolean
  integer: boolean
}

interface JsonNode {
  type?: string
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  properties?: Record<string, JsonNode>
  items?: JsonNode
  anyOf?: JsonNode[]
}

const JSON_SCHEMA = z.toJSONSchema(TrainConfig, { io: 'input', unrepresentable: 'any' }) as JsonNode

/** The node at `path` ("head.dense[].units"), looking through nullable wrappers. */
function nodeAt(path: string): JsonNode {
  let node: JsonNode | undefined = JSON_SCHEMA
  for (const step of path.split('.')) {
    const name = step.replace('[]', '')
    node = node?.anyOf?.find((n) => n.type !== 'null') ?? node
    node = node?.properties?.[name]
    if (step.endsWith('[]')) node = node?.items
  }
  if (!node) throw new Error(`TrainConfig has no setting ${path}`)
  return node.anyOf?.find((n) => n.type !== 'null') ?? node
}

function rangeAt(path: string): NumberRange {
  const node = nodeAt(path)
  if (node.type !== 'number' && node.type !== 'integer') throw new Error(`TrainConfig.${path} is not a number`)
  return {
    min: node.exclusiveMinimum ?? node.minimum ?? -Infinity,
    max: node.exclusiveMaximum ?? node.maximum ?? Infinity,
    minExclusive: node.exclusiveMinimum !== undefined,
    maxExclusive: node.exclusiveMaximum !== undefined,
    integer: node.type === 'integer'
  }
}

/** What the command line and the form let a user set, and where each lives in TrainConfig. */
export const TRAIN_RANGES = {
  epochs: rangeAt('epochs'),
  batchSize: rangeAt('batchSize'),
  learningRate: rangeAt('learningRate'),
  momentum: rangeAt('momentum'),
  valSplit: rangeAt('valSplit'),
  seed: rangeAt('seed'),
  earlyStopping: rangeAt('earlyStopping.patience'),
  reduceLr: rangeAt('reduceLrOnPlateau.patience'),
  headEpochs: rangeAt('twoPhase.headEpochs'),
  fineTuneLr: rangeAt('twoPhase.learningRate'),
  dropout: rangeAt('head.dropout'),
  denseUnits: rangeAt('head.dense[].units'),
  rotate: rangeAt('augment.rotate'),
  zoom: rangeAt('augment.zoom'),
  shear: rangeAt('augment.shear'),
  brightness: rangeAt('augment.brightness')
} as const satisfies Record<string, NumberRange>

export type RangedSetting = keyof typeof TRAIN_RANGES

const { data: _data, backbone: _backbone, ...defaults } = TrainConfig.parse({ data: '-', backbone: '-' })
/** Every default a training run gets when a setting is left out. */
export const TRAIN_DEFAULTS = defaults
/** No augmentation: every transform off. */
export const NO_AUGMENTATION = Augmentation.parse({})

/** The range in words, e.g. "a whole number from 1 to 10000", "a number above 0 and at most 10". */
export function describeRange(range: NumberRange): string {
  const kind = range.integer ? 'a whole number' : 'a number'
  const low = range.min === -Infinity ? null : range.minExclusive ? `above ${range.min}` : `of at least ${range.min}`
  const high = range.max === Infinity ? null : range.maxExclusive ? `below ${range.max}` : `at most ${range.max}`
  if (low && high && !range.minExclusive && !range.maxExclusive) return `${kind} from ${range.min} to ${range.max}`
  if (low && high && range.minExclusive && range.maxExclusive) return `${kind} between ${range.min} and ${range.max}`
  return [kind, [low, high].filter(Boolean).join(' and ')].filter(Boolean).join(' ')
}

/** Why `value` does not fit `setting`, or null when it does. */
export function checkSetting(setting: RangedSetting, value: number): string | null {
  const range = TRAIN_RANGES[setting]
  const fits =
    Number.isFinite(value) &&
    (!range.integer || Number.isInteger(value)) &&
    (range.minExclusive ? value > range.min : value >= range.min) &&
    (range.maxExclusive ? value < range.max : value <= range.max)
  return fits ? null : `must be ${describeRange(range)}`
}
