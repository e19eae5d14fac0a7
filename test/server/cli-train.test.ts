import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { canary, DATA, PHOTOS, runStudio, tempDir, weightsMirror } from '../helpers'

let env: NodeJS.ProcessEnv
let modelDir: string
let trainRun: ReturnType<typeof studio>

const studio = (...args: string[]) => runStudio(env, args)

const weather = path.join(DATA, 'mini', 'weather')

beforeAll(() => {
  env = { ...process.env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: weightsMirror() }
  modelDir = path.join(tempDir(), 'weather model')
  trainRun = studio(
    'train',
    '--data',
    weather,
    '--backbone',
    'mobilenet_v1_0.25_224',
    '--epochs',
    '3',
    '--lr',
    '0.01',
    '--dense',
    '16',
    '--dropout',
    '0.2',
    '--out',
    modelDir,
    '--json'
  )
})

describe('transfer-studio train / evaluate / predict --model', () => {
  it('train --json prints one event per line: an epoch line per epoch and a done line', () => {
    expect(trainRun.stderr).toBe('')
    expect(trainRun.code).toBe(0)
    const events = trainRun.lines.map((l) => JSON.parse(l))
    const epochs = events.filter((e) => e.event === 'epoch')
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2, 3])
    for (const e of epochs) {
      for (const key of ['loss', 'acc', 'val_loss', 'val_acc']) expect(typeof e[key]).toBe('number')
    }
    expect(events.at(-1)).toEqual({
      event: 'done',
      val_acc: expect.any(Number),
      // mini/weather's validation images: few enough that the CLI adds an interval to the accuracy.
      val_count: 20,
      test_acc: null,
      seconds: expect.any(Number),
      model: modelDir,
      epochs: 3,
      stopped: 'completed',
      // Without restoring the best, the last epoch is the one saved.
      savedEpoch: 3,
      bestEpoch: expect.any(Number)
    })
    // Progress passes through: feature extraction counts up to every image, each epoch's batches up to the last.
    const extracting = events.filter((e) => e.event === 'status' && e.phase === 'extracting')
    expect(extracting.filter((e) => e.message === 'Computing train features').at(-1)).toMatchObject({ done: 60, total: 60 })
    expect(extracting.filter((e) => e.message === 'Computing val features').at(-1)).toMatchObject({ done: 20, total: 20 })
    for (const e of extracting.filter((e) => 'rate' in e)) {
      expect(e.rate).toBeGreaterThan(0)
      expect(e.eta).toBeGreaterThanOrEqual(0)
    }
    const batches = events.filter((e) => e.event === 'batch')
    expect(batches.filter((e) => e.batch === e.batches).map((e) => e.epoch)).toEqual([1, 2, 3])
    for (const e of batches) expect(e).toMatchObject({ batches: 2, loss: expect.any(Number), eta: expect.any(Number) })
    const metadata = JSON.parse(fs.readFileSync(path.join(modelDir, 'metadata.json'), 'utf8'))
    expect(metadata.head.dense).toEqual([{ units: 16, activation: 'relu', batchNorm: false, dropout: 0.2 }])
  })

  it('train --resume continues a run in a new process from its saved state', () => {
    const runDir = trainRun.lines.map((l) => JSON.parse(l)).find((e) => e.event === 'run').runDir
    // --out again: a resumed run writes only inside its own folder unless told where.
    const resumed = studio('train', '--resume', runDir, '--out', modelDir, '--json')
    expect(resumed.stderr).toBe('')
    expect(resumed.code).toBe(0)
    const events = resumed.lines.map((l) => JSON.parse(l))
    expect(events.find((e) => e.event === 'run')).toEqual({ event: 'run', runDir, resumed: true })
    // All three epochs were done: nothing to repeat, the same model comes out.
    expect(events.filter((e) => e.event === 'epoch')).toEqual([])
    expect(events.at(-1)).toMatchObject({ event: 'done', epochs: 3, model: modelDir })
  })

  it('evaluate --json gives accuracy, loss, classes and the confusion matrix, matching training', () => {
    const { code, lines } = studio('evaluate', '--model', modelDir, '--data', weather, '--json')
    expect(code).toBe(0)
    const report = JSON.parse(lines[0])
    expect(report.classes).toEqual(['cloudy', 'rain', 'shine', 'sunrise'])
    expect(report.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(20)
    const done = JSON.parse(trainRun.lines.at(-1)!)
    expect(report.accuracy).toBeCloseTo(done.val_acc, 6)
    expect(report.perClass.map((c: { support: number }) => c.support)).toEqual([5, 5, 5, 5])
    expect(report.misclassified.length).toBe(Math.round((1 - report.accuracy) * 20))
  })

  it("predict --model answers with the model's own labels", () => {
    const { code, lines } = studio('predict', '--model', modelDir, '--top', '2', '--json', path.join(PHOTOS, 'coffee.png'))
    expect(code).toBe(0)
    const result = JSON.parse(lines[0])
    expect(result.predictions).toHaveLength(2)
    expect(['cloudy', 'rain', 'shine', 'sunrise']).toContain(result.predictions[0].label)
  })

  it('train --out <a folder that is not a saved model> refuses before training and changes nothing in it', () => {
    const target = canary()
    const before = target.digest()
    const refused = studio('train', '--data', weather, '--backbone', 'mobilenet_v1_0.25_224', '--epochs', '1', '--out', target.dir)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(
      `error: Will not save the model to ${target.dir}: saving replaces the folder, and ${target.dir} is not a Transfer Studio model`
    )
    expect(refused.stderr).not.toContain('    at ')
    expect(refused.stdout).not.toMatch(/^epoch /m)
    expect(target.digest()).toBe(before)
  })

  it('explains bad requests in plain words', () => {
    const noLayer = studio('train', '--data', weather, '--backbone', 'mobilenet_v1_0.25_224', '--freeze', 'conv_pw_99', '--epochs', '1')
    expect(noLayer.code).toBe(1)
    expect(noLayer.stderr).toContain('error: No layer named "conv_pw_99" in mobilenet_v1_0.25_224')
    expect(noLayer.stderr).not.toContain('    at ')

    const both = studio('predict', '--model', modelDir, '--backbone', 'resnet50', path.join(PHOTOS, 'coffee.png'))
    expect(both.code).toBe(2)
    expect(both.stderr.trim()).toBe('error: give either --model <model-dir> or --backbone <id>')

    const notAModel = studio('evaluate', '--model', weather, '--data', weather)
    expect(notAModel.code).toBe(1)
    expect(notAModel.stderr.trim()).toBe(`error: ${weather} is not a Transfer Studio model: metadata.json is missing`)

    const badAugment = studio('train', '--data', weather, '--backbone', 'resnet50', '--augment', 'flip,spin')
    expect(badAugment.code).toBe(2)
    expect(badAugment.stderr).toContain('unknown augmentation "spin"')
  })
})
