// The command line prints the scan's warnings too: in `scan`, and as notices when `train` starts,
// including that a test split given as --val now doubles as validation.
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { DATA, runStudio, tempDir, weightsMirror } from '../helpers'

let env: NodeJS.ProcessEnv
let root: string

/** Copies of real photos: train, val and test of two weather classes, one training photo again in test. */
beforeAll(() => {
  env = { ...process.env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: weightsMirror() }
  root = tempDir('ts-cli-warned-')
  const weather = path.join(DATA, 'mini', 'weather')
  for (const split of ['train', 'val', 'test']) {
    for (const label of ['cloudy', 'rain']) {
      const from = path.join(weather, split === 'train' ? 'train' : 'val', label)
      const names = fs.readdirSync(from).sort()
      const chosen = split === 'train' ? names.slice(0, 4) : split === 'val' ? names.slice(0, 2) : names.slice(2, 4)
      fs.mkdirSync(path.join(root, split, label), { recursive: true })
      for (const name of chosen) fs.copyFileSync(path.join(from, name), path.join(root, split, label, name))
    }
  }
  const first = fs.readdirSync(path.join(root, 'train', 'rain')).sort()[0]
  fs.copyFileSync(path.join(root, 'train', 'rain', first), path.join(root, 'test', 'rain', 'again.jpg'))
})

describe('dataset warnings on the command line', () => {
  it('scan says what training will do with them', () => {
    const run = runStudio(env, ['scan', root])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/Before training:\n {2}The same image is in train and test: .* = again\.jpg\. Training keeps both/)
  })

  it('train prints them before it starts, and says the test split now doubles as validation', () => {
    const run = runStudio(env, ['train', '--data', root, '--val', path.join(root, 'test'), '--backbone', 'mobilenet_v1_0.25_224', '--epochs', '1'])
    expect(run.code).toBe(0)
    const output = run.stdout + run.stderr
    expect(output).toMatch(/The same image is in train and test: .* = again\.jpg\. Training keeps both/)
    expect(output).toMatch(/The test split \(.*test\) now doubles as validation/)
    // Printed before the first epoch's line.
    expect(output.indexOf('now doubles as validation')).toBeLessThan(output.indexOf('epoch 1/1'))
  })
})
