import { describe, expect, it } from 'vitest'
import { describeAccuracy, INTERVAL_BELOW_IMAGES, intervalNote, wilsonInterval } from '../../src/shared/confidence'

const Z2 = 1.959963984540054 ** 2

describe('wilsonInterval', () => {
  it('has the closed forms at 0 and 100 %', () => {
    // At p = 0 the upper end is z²/(n+z²); at p = 1 the lower end is n/(n+z²).
    expect(wilsonInterval(0, 5).low).toBe(0)
    expect(wilsonInterval(0, 5).high).toBeCloseTo(Z2 / (5 + Z2), 12)
    expect(wilsonInterval(1, 20).high).toBe(1)
    expect(wilsonInterval(1, 20).low).toBeCloseTo(20 / (20 + Z2), 12)
  })

  it('gives the textbook interval for 8 of 20 (R prop.test without correction: 0.2188–0.6134)', () => {
    const { low, high } = wilsonInterval(0.4, 20)
    expect(low).toBeCloseTo(0.2188, 4)
    expect(high).toBeCloseTo(0.6134, 4)
  })

  it('narrows as n grows and is the whole range with no images', () => {
    const width = (n: number): number => wilsonInterval(0.8, n).high - wilsonInterval(0.8, n).low
    expect(width(20)).toBeGreaterThan(width(200))
    expect(wilsonInterval(0.5, 0)).toEqual({ low: 0, high: 1 })
  })
})

describe('describeAccuracy', () => {
  it('shows the interval on few images and only the value on many', () => {
    expect(describeAccuracy(0.4, 20)).toBe('40.0 % (95 % interval 21.9–61.3 %, 20 images)')
    expect(describeAccuracy(1, 1)).toMatch(/^100\.0 % \(95 % interval 20\.7–100\.0 %, 1 image\)$/)
    expect(describeAccuracy(0.9, INTERVAL_BELOW_IMAGES)).toBe('90.0 %')
    expect(describeAccuracy(0.9, null)).toBe('90.0 %')
    expect(describeAccuracy(null, 20)).toBe('–')
    expect(intervalNote(Number.NaN, 20)).toBe('')
  })
})
