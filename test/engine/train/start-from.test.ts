// Continuing a model imported from Keras, as load_model(...) then fit(...): a real Keras file
// (MLPerf Tiny's ResNet-8, ../shared/models/keras-h5) is imported, scored on CIFAR-10's test
// records (its README: 88.0 % by an independent forward pass), trained one more epoch on the
// CIFAR-10 subset with its own classifier, and scored again.
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { evaluateModel, importKerasModel, readMetadata, train } from '../../../src/engine/api'
import { DATA, MODELS, tempDir, trainConfig } from '../../helpers'

const RESNET8 = path.join(MODELS, 'keras-h5', 'resnet8_cifar10_keras2.4.0_functional.h5')
const CIFAR = path.join(DATA, 'cifar10-bin-subset')
const LABELS = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']

let imported: string
let home: string
beforeAll(async () => {
  home = tempDir()
  imported = path.join(tempDir(), 'resnet8')
  await importKerasModel(RESNET8, imported, { preprocess: 'raw', labels: LABELS })
}, 120_000)

describe('training continues an imported Keras model', () => {
  it('keeps its classifier and classes: accuracy before and after one epoch', async () => {
    const before = await evaluateModel(imported, CIFAR)
    expect(before.accuracy).toBeCloseTo(895 / 1017, 6)

    const out = path.join(tempDir(), 'continued')
    const events: string[] = []
    const outcome = await train(
      trainConfig({ data: CIFAR, backbone: 'resnet8', startFrom: imported, epochs: 1, learningRate: 1e-4, out, freeze: { kind: 'all' } }),
      { home, onEvent: (e) => events.push(e.event) }
    )
    expect(outcome.history).toHaveLength(1)
    expect(outcome.path).toBe('cached-features')
    const after = await evaluateModel(out, CIFAR)
    // Reported, not asserted to improve: one epoch of the classifier alone at a small rate.
    console.log(
      `resnet8 on the 1017 CIFAR-10 test records: before ${(before.accuracy * 100).toFixed(1)} %, after one epoch ${(after.accuracy * 100).toFixed(1)} %`
    )
    // The model kept its trained layers: a fresh classifier would start near 10 %.
    expect(after.accuracy).toBeGreaterThan(0.8)
    const metadata = await readMetadata(out)
    expect(metadata.labels).toEqual(LABELS)
    expect(metadata.preprocess).toBe('raw')
    expect(metadata.inputSize).toBe(32)
    expect(metadata.backbone).toBe('keras:resnet8_cifar10_keras2.4.0_functional.h5')
    expect(metadata.training?.startFrom).toBe(imported)
    // Only the classifier trained: every other layer with weights is recorded frozen.
    const layers = (
      JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')) as {
        modelTopology: { config: { layers: Array<{ class_name: string; name: string }> } }
      }
    ).modelTopology.config.layers
    const classifier = layers.filter((l) => l.class_name === 'Dense').at(-1)!.name
    expect(metadata.frozenLayers).not.toContain(classifier)
    expect(metadata.frozenLayers.length).toBe(layers.filter((l) => ['Conv2D', 'BatchNormalization'].includes(l.class_name)).length)
    expect(fs.existsSync(path.join(out, 'model.json'))).toBe(true)
  }, 600_000)

  it('refuses a dataset with other classes, naming the model and both class lists', async () => {
    const other = path.join(DATA, 'mini', 'hymenoptera')
    await expect(train(trainConfig({ data: other, backbone: 'resnet8', startFrom: imported, epochs: 1 }), { home })).rejects.toThrow(
      `${imported} classifies ${LABELS.join(', ')}, but the dataset's classes are ants, bees: continuing a model needs the same classes in the same order`
    )
  }, 120_000)
})
