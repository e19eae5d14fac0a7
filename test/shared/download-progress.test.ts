// The one line a download shows in the app and the CLI, and the speed it is measured with.
import { describe, expect, it } from 'vitest'
import { TransferSpeed } from '../../src/engine/backbones/transfer-speed'
import { describeDownload, downloadFraction, formatDuration } from '../../src/shared/download-progress'

describe('download progress in words', () => {
  it('says downloading with bytes, speed and time left', () => {
    const line = describeDownload({
      backbone: 'resnet50',
      file: 'group1-shard1of25.bin',
      label: 'resnet50 weights',
      bytes: 12_345_678,
      totalBytes: 102_543_000,
      action: 'downloading',
      bytesPerSecond: 4_100_000,
      secondsLeft: 22.4
    })
    expect(line).toBe('Downloading resnet50 weights: 12.3 MB of 102.5 MB · 4.1 MB/s · 22 s left')
  })

  it('says copying for a local mirror, and done at the end', () => {
    const line = describeDownload({
      backbone: 'hymenoptera',
      file: 'x.zip',
      label: 'the sample dataset',
      bytes: 47_000_000,
      totalBytes: 47_000_000,
      action: 'copying',
      bytesPerSecond: 210_000_000,
      secondsLeft: 0,
      done: true
    })
    expect(line).toBe('Copying the sample dataset from the local mirror: 47.0 MB of 47.0 MB · 210.0 MB/s · done')
  })

  it('reads the older events (no action, speed or label) as before', () => {
    expect(describeDownload({ backbone: 'mobilenet_v1_0.25_224', file: 'model.json', bytes: 2048, totalBytes: null })).toBe(
      'Downloading mobilenet_v1_0.25_224: 2 kB'
    )
    expect(downloadFraction({ backbone: 'b', file: 'f', bytes: 5, totalBytes: null })).toBeNull()
    expect(downloadFraction({ backbone: 'b', file: 'f', bytes: 5, totalBytes: 20 })).toBe(0.25)
  })

  it('writes long waits in minutes and hours', () => {
    expect([formatDuration(59.4), formatDuration(61), formatDuration(3725)]).toEqual(['59 s', '1 min 01 s', '1 h 02 min'])
  })
})

describe('transfer speed', () => {
  it('is measured over the last five seconds, leaving out bytes held from an earlier attempt', () => {
    let now = 0
    const speed = new TransferSpeed(() => now)
    speed.skip(1_000_000)
    speed.sample(1_000_000)
    expect(speed.bytesPerSecond()).toBeNull()
    // 1 MB/s for 10 s, then 4 MB/s for 5 s: the window sees only the faster part.
    for (let s = 1; s <= 10; s++) {
      now = s * 1000
      speed.sample(1_000_000 + s * 1_000_000)
    }
    expect(speed.bytesPerSecond()).toBeCloseTo(1_000_000, 0)
    for (let s = 1; s <= 5; s++) {
      now = 10_000 + s * 1000
      speed.sample(11_000_000 + s * 4_000_000)
    }
    expect(speed.bytesPerSecond()).toBeCloseTo(4_000_000, 0)
  })
})
