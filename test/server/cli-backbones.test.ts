// A Keras backbone the whole way through the command line, and an imported Keras model trained
// further. The weights mirror holds a MobileNetV2 file in Keras' layout with random values (the
// official file cannot be downloaded here), padded with zeros to the official size: Keras
// publishes a size and no MD5 for it, and HDF5 ignores bytes past its end of file, so the CLI
// checks it as it checks the real one.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { backboneSpec } from '../../src/engine/backbones/registry'
import { sharedFixture } from '../engine/backbones/keras-h5-fixture'
import { DATA, MODELS, runStudio, tempDir } from '../helpers'

const V2 = backboneSpec('mobilenet_v2_1.0_224')
const HYMENOPTERA = path.join(DATA, 'mini', 'hymenoptera')
const CIFAR = path.join(DATA, 'cifar10-bin-subset')
const RESNET8 = path.join(MODELS, 'keras-h5', 'resnet8_cifar10_keras2.4.0_functional.h5')
const LABELS = 'airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck'
const KERAS_H5 = path.join(import.meta.dirname, '..', 'engine', 'keras', 'keras_h5.py')

let env: NodeJS.ProcessEnv
beforeAll(async () => {
  const mirror = tempDir('ts-mirror-')
  const { file } = await sharedFixture('mobilenet_v2_1_0_224', false)
  const bytes = fs.readFileSync(file)
  const dest = path.join(mirror, V2.keras!.notop.path)
  fs.mkdirSync(path.dirname(dest), { recursive: true })
  fs.writeFileSync(dest, Buffer.concat([bytes, Buffer.alloc(V2.keras!.notop.bytes! - bytes.length)]))
  env = { ...process.env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: mirror }
}, 120_000)
const studio = (...args: string[]) => runStudio(env, args)

describe('MobileNetV2 through the command line', () => {
  it('downloads from the mirror, freezes up to a block, trains, evaluates, classifies, exports a Keras .h5', () => {
    const model = path.join(tempDir(), 'v2')
    const trained = studio('train', '--data', HYMENOPTERA, '--backbone', V2.id, '--freeze', 'block_15_add', '--epochs', '1', '--out', model, '--json')
    expect(trained.code).toBe(0)
    // Downloaded once, checked, converted into the cache; the .h5 is not kept.
    const cache = path.join(env.TRANSFER_STUDIO_HOME!, 'weights', V2.id)
    expect(fs.readdirSync(cache).sort()).toEqual(['cache-manifest.json', 'model.json', 'weights.bin'])
    expect(fs.readdirSync(path.join(env.TRANSFER_STUDIO_HOME!, 'weights', 'downloads'))).toEqual([])
    const done = JSON.parse(trained.lines.at(-1)!)
    expect(done).toMatchObject({ event: 'done', model, epochs: 1 })
    const metadata = JSON.parse(fs.readFileSync(path.join(model, 'metadata.json'), 'utf8'))
    expect(metadata).toMatchObject({ backbone: V2.id, preprocess: 'tf', inputSize: 224, labels: ['ants', 'bees'] })
    expect(metadata.frozenLayers).toContain('block_15_project_BN')
    expect(metadata.frozenLayers).not.toContain('block_16_project')

    const evaluated = studio('evaluate', '--model', model, '--data', HYMENOPTERA, '--json')
    expect(evaluated.code).toBe(0)
    const report = JSON.parse(evaluated.lines.at(-1)!)
    expect(report.classes).toEqual(['ants', 'bees'])
    expect(report.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBeGreaterThan(0)

    const ant = path.join(HYMENOPTERA, 'val', 'ants', fs.readdirSync(path.join(HYMENOPTERA, 'val', 'ants'))[0])
    const predicted = studio('predict', '--model', model, ant, '--json')
    expect(predicted.code).toBe(0)
    expect(
      JSON.parse(predicted.lines[0])
        .predictions.map((p: { label: string }) => p.label)
        .sort()
    ).toEqual(['ants', 'bees'])

    const exported = studio('export-keras', '--model', model)
    expect(exported.code).toBe(0)
    const file = path.join(model, 'model.h5')
    const check = spawnSync('/usr/bin/python3', [KERAS_H5, 'layout', file], { encoding: 'utf8' })
    expect(check.stderr).toBe('')
    const layout = JSON.parse(check.stdout) as { config_layers: Array<[string, string]>; layer_names: string[] }
    expect(layout.layer_names).toContain('block_16_project_BN')
    expect(layout.config_layers.at(-1)!.slice(0, 2)).toEqual(['Dense', 'predictions'])
  }, 1_200_000)
})

describe('train --from: continuing an imported Keras model', () => {
  it('trains resnet8 one more epoch on CIFAR-10 with its own classifier; accuracy before and after', () => {
    const imported = path.join(tempDir(), 'resnet8')
    expect(studio('import-keras', RESNET8, '--preprocess', 'raw', '--labels', LABELS, '--out', imported).code).toBe(0)
    const before = JSON.parse(studio('evaluate', '--model', imported, '--data', CIFAR, '--json').lines.at(-1)!).accuracy
    expect(before).toBeCloseTo(895 / 1017, 6)

    const out = path.join(tempDir(), 'continued')
    const trained = studio('train', '--data', CIFAR, '--from', imported, '--epochs', '1', '--lr', '0.0001', '--out', out, '--json')
    expect(trained.stderr).toBe('')
    expect(trained.code).toBe(0)
    const after = JSON.parse(studio('evaluate', '--model', out, '--data', CIFAR, '--json').lines.at(-1)!).accuracy
    console.log(`train --from: resnet8 on the 1017 CIFAR-10 test records, ${(before * 100).toFixed(1)} % before, ${(after * 100).toFixed(1)} % after one epoch`)
    expect(after).toBeGreaterThan(0.8)

    // Other classes: one line naming the model and both lists.
    const refused = studio('train', '--data', HYMENOPTERA, '--from', imported, '--epochs', '1')
    expect(refused.code).toBe(1)
    expect(refused.stderr).toBe(
      `error: ${imported} classifies ${LABELS.split(',').join(', ')}, but the dataset's classes are ants, bees: continuing a model needs the same classes in the same order (start from a backbone with a new head for other classes)\n`
    )
  }, 1_200_000)
})
