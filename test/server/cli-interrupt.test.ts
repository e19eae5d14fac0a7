// Ctrl-C through `npm run studio`, as a terminal sends it: SIGINT to the whole process group (npm,
// its shell and the CLI all get it). The first stops the run like the app's Stop and keeps the model
// and the run's state; a second one quits without saving.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadModel } from '../../src/engine/model/store'
import { DATA, ROOT, tempDir, weightsMirror } from '../helpers'
import * as tf from '@tensorflow/tfjs'

const hymenoptera = path.join(DATA, 'mini', 'hymenoptera')

interface Finished {
  stdout: string
  stderr: string
  code: number | null
  signal: NodeJS.Signals | null
}

/**
 * `npm run studio -- train ...` in its own process group; `onOutput` sees stdout as it grows and
 * may send the group a signal.
 */
function studioGroup(args: string[], onOutput: (stdout: string, interrupt: () => void) => void): Promise<Finished> {
  const env = { ...process.env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: weightsMirror() }
  const child = spawn('npm', ['run', '--silent', 'studio', '--', ...args], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const interrupt = (): void => void process.kill(-child.pid!, 'SIGINT')
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    onOutput(stdout, interrupt)
  })
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ stdout, stderr, code, signal })))
}

describe('Ctrl-C during train, through npm run studio', () => {
  it('the first SIGINT stops after the batch, saves the model and the state, and says where', async () => {
    let sent = false
    // Small batches and many epochs: the run is mid-way when the second epoch line shows.
    const result = await studioGroup(
      ['train', '--data', hymenoptera, '--backbone', 'mobilenet_v1_0.25_224', '--epochs', '5000', '--batch-size', '4'],
      (stdout, interrupt) => {
        if (!sent && /^epoch 2\/5000 /m.test(stdout)) {
          sent = true
          interrupt()
        }
      }
    )
    expect(sent).toBe(true)
    expect(result.stderr).toContain("Stopping after this batch: the best model so far and the run's state will be saved")
    expect(result.stderr).not.toContain('Quitting')
    const saved = /^Saved (.+) after (\d+) epochs \(stopped\)/m.exec(result.stdout)
    expect(saved, result.stdout + result.stderr).not.toBeNull()
    const [, modelDir, epochs] = saved!
    expect(Number(epochs)).toBeGreaterThanOrEqual(2)
    expect(Number(epochs)).toBeLessThan(5000)
    const runDir = /^Run folder: (.+)$/m.exec(result.stdout)![1]
    expect(result.stderr).toContain(`Interrupted: the model is saved in ${modelDir}`)
    expect(result.stderr).toContain(`The run's state is in ${path.join(runDir, 'state')}; continue it with: transfer-studio train --resume ${runDir}`)
    expect(fs.existsSync(path.join(runDir, 'state', 'state.json'))).toBe(true)
    // The saved model is whole: it loads and classifies.
    const { model, metadata } = await loadModel(modelDir)
    expect(metadata.labels).toEqual(['ants', 'bees'])
    const out = tf.tidy(() => model.predict(tf.zeros([1, 224, 224, 3])) as tf.Tensor)
    expect(out.shape).toEqual([1, 2])
    model.dispose()
    out.dispose()
    // The CLI exits 130 (interrupted); npm's shell, which got the SIGINT too, then ends npm by that signal.
    expect(result.code === 130 || result.signal === 'SIGINT', `code ${result.code}, signal ${result.signal}`).toBe(true)
  }, 600_000)

  it('a second SIGINT quits at once without saving', async () => {
    let sent = 0
    // Nothing frozen and one batch of 40 images an epoch: a batch takes seconds, so both signals
    // arrive while the run is still going.
    const result = await studioGroup(
      ['train', '--data', hymenoptera, '--backbone', 'mobilenet_v1_0.25_224', '--epochs', '5000', '--freeze', 'none', '--batch-size', '40'],
      (stdout, interrupt) => {
        if (sent === 0 && /^epoch 1\/5000 /m.test(stdout)) {
          sent = 1
          interrupt()
          setTimeout(() => {
            sent = 2
            interrupt()
          }, 1500)
        }
      }
    )
    expect(sent).toBe(2)
    expect(result.stderr).toContain('Stopping after this batch')
    expect(result.stderr).toContain('Quitting without saving the model')
    expect(result.stdout).not.toMatch(/^Saved /m)
    expect(result.code === 130 || result.signal === 'SIGINT', `code ${result.code}, signal ${result.signal}`).toBe(true)
  }, 600_000)
})
