// import-keras and export-keras from the command line: a real Keras file in, scored by evaluate,
// written back out as a Keras file that h5py reads with the same weights; errors are one line.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { DATA, MODELS, runStudio, tempDir } from '../helpers'

const RESNET8 = path.join(MODELS, 'keras-h5', 'resnet8_cifar10_keras2.4.0_functional.h5')
const CIFAR = path.join(DATA, 'cifar10-bin-subset')
const LABELS = 'airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck'

let env: NodeJS.ProcessEnv
beforeAll(() => {
  env = { ...process.env, TRANSFER_STUDIO_HOME: tempDir() }
})
const studio = (...args: string[]) => runStudio(env, args)

describe('transfer-studio import-keras / export-keras', () => {
  it('imports a Keras file that evaluate then scores, and exports it back as Keras HDF5', () => {
    const model = path.join(tempDir(), 'resnet8')
    const imported = studio('import-keras', RESNET8, '--preprocess', 'raw', '--labels', LABELS, '--out', model)
    expect(imported.stderr).toBe('')
    expect(imported.code).toBe(0)
    expect(imported.stdout).toContain(`imported ${RESNET8} (keras-h5, Keras 2.4.0) into ${model}`)
    expect(imported.stdout).toContain('10 classes, 32x32 RGB input, preprocessing "raw"')

    const evaluated = studio('evaluate', '--model', model, '--data', CIFAR, '--json')
    expect(evaluated.code).toBe(0)
    expect(JSON.parse(evaluated.lines.at(-1)!).accuracy).toBeCloseTo(895 / 1017, 6)

    const out = path.join(tempDir(), 'resnet8.h5')
    const exported = studio('export-keras', '--model', model, '--out', out)
    expect(exported.code).toBe(0)
    expect(exported.stdout.trim()).toBe(`wrote ${out}`)
    const check = spawnSync('/usr/bin/python3', [path.join(import.meta.dirname, '..', 'engine', 'keras', 'keras_h5.py'), 'same-weights', RESNET8, out], {
      encoding: 'utf8'
    })
    expect(JSON.parse(check.stdout)).toMatchObject({ keys_equal: true, values_equal: true })

    // Without --out the Keras file goes beside the TensorFlow.js model; the model still loads.
    const beside = studio('export-keras', '--model', model)
    expect(beside.code).toBe(0)
    expect(beside.stdout.trim()).toBe(`wrote ${path.join(model, 'model.h5')}`)
    const again = spawnSync(
      '/usr/bin/python3',
      [path.join(import.meta.dirname, '..', 'engine', 'keras', 'keras_h5.py'), 'same-weights', out, path.join(model, 'model.h5')],
      { encoding: 'utf8' }
    )
    expect(JSON.parse(again.stdout)).toMatchObject({ keys_equal: true, values_equal: true })
  })

  it('a file that is not a Keras model is one line naming it and the reason', () => {
    const bogus = path.join(tempDir(), 'model.h5')
    fs.writeFileSync(bogus, 'hello')
    const { code, stderr } = studio('import-keras', bogus, '--preprocess', '0..1', '--out', path.join(tempDir(), 'm'))
    expect(code).toBe(1)
    expect(stderr).toBe(`error: ${bogus}: not an HDF5 file (it does not start with the HDF5 signature)\n`)
  })

  it('an unknown scaling is refused with the ones that exist', () => {
    const { code, stderr } = studio('import-keras', RESNET8, '--preprocess', '0..2', '--out', path.join(tempDir(), 'm'))
    expect(code).not.toBe(0)
    expect(stderr).toContain(
      "error: option '--preprocess <scaling>' argument '0..2' is invalid. must be one of 0..1, unit, -1..1, tf, raw, 0..255, caffe, torch"
    )
  })
})
