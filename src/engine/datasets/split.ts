// Holds out a validation set when a dataset has no validation folder: per class, so every
// class keeps its share (stratified), and from a seed, so the same seed gives the same split.
import { seededRandom, shuffled } from '../util/random'

export const DEFAULT_VAL_FRACTION = 0.2
export const DEFAULT_SEED = 42

export interface Split<T> {
  train: T[]
  val: T[]
}

export function splitStratified<T extends { label: number }>(items: readonly T[], fraction: number, seed: number): Split<T> {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`Validation fraction must be between 0 and 1, got ${fraction}`)
  const random = seededRandom(seed)
  const byClass = new Map<number, number[]>()
  items.forEach((item, index) => {
    const list = byClass.get(item.label) ?? []
    list.push(index)
    byClass.set(item.label, list)
  })
  const inVal = new Set<number>()
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const indices = byClass.get(label)!
    // A class with two or more images always lands in both sets, however small the fraction.
    let count = Math.round(indices.length * fraction)
    if (indices.length >= 2) count = Math.min(Math.max(count, 1), indices.length - 1)
    for (const index of shuffled(indices, random).slice(0, count)) inVal.add(index)
  }
  // Keep the original order inside each set, so the result does not depend on Map iteration.
  return {
    train: items.filter((_, index) => !inVal.has(index)),
    val: items.filter((_, index) => inVal.has(index))
  }
}
