// The command line shows a download as one line with bytes, speed and time left, and says
// "Copying … from the local mirror" when the weights mirror is a folder.
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { PHOTOS, runStudio, tempDir, weightsMirror } from '../helpers'

describe('download progress on the command line', () => {
  it('says copying, with the bytes of the whole and done, for weights from a mirror folder', () => {
    const env = { ...process.env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: weightsMirror() }
    const started = Date.now()
    const { code, stderr, lines } = runStudio(env, ['predict', '--backbone', 'mobilenet_v1_0.25_224', path.join(PHOTOS, 'chelsea.png'), '--json'])
    const seconds = (Date.now() - started) / 1000
    expect(code, stderr).toBe(0)
    expect(JSON.parse(lines[0]).predictions).toHaveLength(5)
    const progress = stderr.split('\n').filter((l) => l.startsWith('Copying'))
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.at(-1)).toMatch(/^Copying mobilenet_v1_0\.25_224 weights from the local mirror: (\d+\.\d) MB of \1 MB · (\d+(\.\d)? [kMG]?B\/s · )?done$/)
    // Not a line per chunk in a log: about one a second, and the last.
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1)
    expect(stderr).not.toMatch(/^Downloading/m)
    // The second time the weights are in the cache: nothing to copy.
    const again = runStudio(env, ['predict', '--backbone', 'mobilenet_v1_0.25_224', path.join(PHOTOS, 'chelsea.png'), '--json'])
    expect(again.code).toBe(0)
    expect(again.stderr).not.toMatch(/Copying|Downloading/)
    // Two cold starts of the CLI (tfjs, the backbone) on a shared 2-core machine.
  }, 400_000)
})
