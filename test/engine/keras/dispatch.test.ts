// The engine process's importKeras / exportKeras commands: validated like every command, then run.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { EngineSession } from '../../../src/engine/dispatch'
import { MODELS, tempDir } from '../../helpers'

const session = new EngineSession()

const FILE = path.join(MODELS, 'keras-h5', 'cifar10_bn_keras2.8.0_weights_only.h5')
const ARCHITECTURE = path.join(MODELS, 'keras-h5', 'cifar10_bn_keras2.8.0_weights_only.model.json')

describe('importKeras and exportKeras through dispatch', () => {
  it('imports a weights-only file with its architecture, then exports the model', async () => {
    const out = path.join(tempDir(), 'model')
    const metadata = (await session.dispatch(1, { command: 'importKeras', file: FILE, architecture: ARCHITECTURE, out, preprocess: 'unit' }, () => {})) as {
      labels: string[]
      source: { format: string; kerasVersion: string }
    }
    expect(metadata.labels).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
    expect(metadata.source).toMatchObject({ format: 'keras-weights-h5+json', kerasVersion: '2.8.0' })
    const file = path.join(tempDir(), 'cifar.h5')
    expect(await session.dispatch(2, { command: 'exportKeras', model: out, out: file }, () => {})).toEqual({ file })
    expect(fs.statSync(file).size).toBeGreaterThan(552_874 * 4)
  })

  it('refuses a scaling that does not exist before touching any file', async () => {
    await expect(session.dispatch(3, { command: 'importKeras', file: FILE, out: tempDir(), preprocess: '0..2' }, () => {})).rejects.toThrow(
      /Refused a malformed command/
    )
  })
})
