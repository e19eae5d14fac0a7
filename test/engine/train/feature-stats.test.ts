// Feature statistics on numbers worked out independently (numpy: np.percentile and leave-one-out
// centroids computed by deleting the row), and the unsure rule they feed.
import { describe, expect, it } from 'vitest'
import { computeFeatureStats, novelty, percentile } from '../../../src/engine/train/feature-stats'
import { FeatureStats } from '../../../src/shared/protocol'

describe('percentile', () => {
  it('interpolates between closest ranks as numpy.percentile does', () => {
    expect(percentile([1, 2, 3, 4, 10], 99)).toBeCloseTo(9.76, 10)
    expect(percentile([3, 1, 2], 50)).toBe(2)
    expect(percentile([5], 99)).toBe(5)
    expect(() => percentile([], 50)).toThrow(/no values/)
  })
})

describe('computeFeatureStats', () => {
  // Two classes of three 2-D points; numpy gives the centroids and each point's distance to its
  // class's centroid without it: 1.8028, 2.5, 3.1623, whose 99th percentile is 3.149032106965012.
  const rows = [
    [0, 0],
    [2, 0],
    [0, 3],
    [10, 10],
    [12, 10],
    [10, 13]
  ]
  const labels = [0, 0, 0, 1, 1, 1]

  it('keeps one centroid a class and the 99th percentile of leave-one-out distances', () => {
    const stats = computeFeatureStats(rows, labels, 2, 'head_pool')!
    expect(stats.layer).toBe('head_pool')
    expect(stats.images).toBe(6)
    expect(stats.centroids[0][0]).toBeCloseTo(2 / 3, 12)
    expect(stats.centroids[0][1]).toBeCloseTo(1, 12)
    expect(stats.centroids[1][0]).toBeCloseTo(32 / 3, 12)
    expect(stats.centroids[1][1]).toBeCloseTo(11, 12)
    expect(stats.thresholds[0]).toBeCloseTo(3.149032106965012, 10)
    expect(stats.thresholds[1]).toBeCloseTo(3.149032106965012, 10)
    expect(FeatureStats.safeParse(stats).success).toBe(true)
  })

  it('measures novelty from the nearest centroid in units of its threshold', () => {
    const stats = computeFeatureStats(rows, labels, 2, 'head_pool')!
    expect(novelty(stats, [2 / 3, 1])).toBe(0)
    // 3 from class 0's centroid, far from class 1's.
    expect(novelty(stats, [2 / 3 + 3, 1])).toBeCloseTo(3 / 3.149032106965012, 10)
    expect(novelty(stats, [-20, -20])).toBeGreaterThan(1)
  })

  it('keeps nothing when a class has fewer than two photos or the centroids would be too large', () => {
    expect(computeFeatureStats([[0], [1], [5]], [0, 0, 1], 2, 'head_pool')).toBeNull()
    expect(computeFeatureStats([new Float32Array(600_000), new Float32Array(600_000)], [0, 1], 2, 'head_flatten')).toBeNull()
    expect(computeFeatureStats([], [], 2, 'head_pool')).toBeNull()
  })
})
