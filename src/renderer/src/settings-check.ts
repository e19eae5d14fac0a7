// The training form's fields checked as they are typed, against the ranges the TrainConfig schema
// states (src/shared/train-settings.ts), with what is wrong in plain words for beside the field.
import { describeRange, TRAIN_RANGES, type RangedSetting } from '../../shared/train-settings'

/** What a number input holds: a number, or '' / null when it is empty or not a number at all. */
export type FieldValue = number | string | null | undefined

/** Why `value` does not fit `setting`, or null when it does; an optional field may be left empty. */
export function fieldProblem(setting: RangedSetting, value: FieldValue, optional = false): string | null {
  const range = describeRange(TRAIN_RANGES[setting])
  if (value === '' || value === null || value === undefined) return optional ? null : `Enter ${range}.`
  const n = typeof value === 'number' ? value : Number(value)
  if (!Number.isFinite(n)) return `Enter ${range}.`
  const r = TRAIN_RANGES[setting]
  if (r.integer && !Number.isInteger(n)) return `Must be a whole number (${range.replace(/^a whole number /, '')}).`
  const tooLow = r.minExclusive ? n <= r.min : n < r.min
  const tooHigh = r.maxExclusive ? n >= r.max : n > r.max
  if (tooLow) return `Too small: must be ${range}.`
  if (tooHigh) return `Too large: must be ${range}.`
  return null
}
