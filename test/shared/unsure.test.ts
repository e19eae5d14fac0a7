import { describe, expect, it } from 'vitest'
import { LOW_PROBABILITY, unsureMark } from '../../src/shared/unsure'

describe('unsureMark', () => {
  it('is null for a confident prediction close to the training photos', () => {
    expect(unsureMark(0.95, 0.7)).toBeNull()
    expect(unsureMark(LOW_PROBABILITY, 1)).toBeNull()
    expect(unsureMark(0.9, null)).toBeNull()
  })

  it('marks a low top probability, saying how low', () => {
    expect(unsureMark(0.54, 0.5)).toEqual({ reason: 'low-probability', message: 'Unsure: the best class gets only 54 % (below 60 %)' })
    expect(unsureMark(0.3, undefined)?.reason).toBe('low-probability')
  })

  it('marks a photo beyond the threshold as unlike the training photos, even when the probability is high', () => {
    const mark = unsureMark(0.99, 1.25)
    expect(mark?.reason).toBe('unlike-training')
    expect(mark?.message).toBe('Unsure: unlike the training photos (farther from every class than 99 % of its own training photos)')
    // Distance comes first: it is the reason a person can act on.
    expect(unsureMark(0.4, 2)?.reason).toBe('unlike-training')
  })
})
