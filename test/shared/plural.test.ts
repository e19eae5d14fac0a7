import { describe, expect, it } from 'vitest'
import { plural } from '../../src/shared/plural'

describe('plural', () => {
  it('says "1 image" for one and the plural for every other count', () => {
    expect(plural(1, 'image')).toBe('1 image')
    expect(plural(0, 'image')).toBe('0 images')
    expect(plural(2, 'class', 'classes')).toBe('2 classes')
    expect(plural(1, 'class', 'classes')).toBe('1 class')
    expect(plural(12045, 'image')).toBe('12,045 images')
  })
})
