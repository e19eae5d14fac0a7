// Issue 13, engine side, written as the attacks: hostile files on disk, a FIFO in place of an
// image, edited run files, absurd numbers. Each asserts a clear error naming the file (and field),
// and that a canary folder outside what the engine may touch is byte-for-byte unchanged.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { RunStateRecord, type TrainConfigInput, type TrainEvent } from '../../src/shared/protocol'
import { loadBackbone } from '../../src/engine/backbones/load'
import { loadDataset } from '../../src/engine/datasets/scan'
import { decodeImage } from '../../src/engine/images/decode'
import { loadModel, notAModelFolder, saveModel } from '../../src/engine/model/store'
import { readEvaluation } from '../../src/engine/runs'
import { resumeRun, train, type ResumeRunOptions, type TrainResult } from '../../src/engine/train/trainer'
import { replaceDir, stagingDir } from '../../src/engine/util/atomic'
import { withTimeout } from '../../src/engine/util/safe-read'
import { canary, DATA, digestTree, tempDir, trainConfig, trainingSetup } from '../helpers'

const BACKBONE = 'mobilenet_v1_0.25_224'
const weather = path.join(DATA, 'mini', 'weather', 'train')

const env = trainingSetup()

/** `n` real images of each class, copied (not linked: some tests replace them). */
function smallDataset(n = 6, classes = ['cloudy', 'rain']): string {
  const root = tempDir('ts-hostile-data-')
  for (const cls of classes) {
    fs.mkdirSync(path.join(root, cls))
    for (const [i, file] of fs.readdirSync(path.join(weather, cls)).sort().slice(0, n).entries()) {
      fs.copyFileSync(path.join(weather, cls, file), path.join(root, cls, `${i}.jpg`))
    }
  }
  return root
}

/** Trains `config`, or with null resumes `extra.resume`. */
async function run(config: TrainConfigInput | null, extra: Partial<ResumeRunOptions> & { resume?: string } = {}) {
  const events: TrainEvent[] = []
  const { resume, ...rest } = extra
  const options = { home: env.home, mirror: env.mirror, ...rest, onEvent: (e: TrainEvent) => (events.push(e), extra.onEvent?.(e)) }
  const result = config ? await train(trainConfig(config), options) : await resumeRun(resume!, options)
  return { result, events }
}

const mkfifo = (file: string): void => void execFileSync('mkfifo', [file])
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'))
const writeJson = (file: string, value: unknown) => fs.writeFileSync(file, JSON.stringify(value, null, 2))

/** Milliseconds `work` takes to settle. */
async function timed(work: Promise<unknown>): Promise<number> {
  const start = Date.now()
  await work.catch(() => {})
  return Date.now() - start
}

let modelDir: string
let dataset: string
beforeAll(async () => {
  dataset = smallDataset()
  modelDir = (await run({ data: dataset, backbone: BACKBONE, epochs: 1 })).result.modelDir
})

/** A private copy of the trained model, optionally with its model.json edited (metadata kept consistent). */
function copyModel(
  editModelJson?: (json: { modelTopology: { config: { layers: unknown[] } }; weightsManifest: Array<{ weights: Array<{ shape: number[] }> }> }) => void
): string {
  const dir = path.join(tempDir(), 'model')
  fs.cpSync(modelDir, dir, { recursive: true })
  if (editModelJson) {
    const json = readJson(path.join(dir, 'model.json'))
    editModelJson(json)
    const bytes = Buffer.from(JSON.stringify(json))
    fs.writeFileSync(path.join(dir, 'model.json'), bytes)
    const metadata = readJson(path.join(dir, 'metadata.json'))
    metadata.files = metadata.files.map((f: { name: string }) => (f.name === 'model.json' ? { ...f, bytes: bytes.length, sha256: sha256(bytes) } : f))
    writeJson(path.join(dir, 'metadata.json'), metadata)
  }
  return dir
}

describe('item 5: saving replaces only a folder that is one of our models', () => {
  it('train --out <a dataset folder> is refused before training, and the folder is untouched', async () => {
    const target = canary()
    const before = target.digest()
    const events: TrainEvent[] = []
    await expect(run({ data: dataset, backbone: BACKBONE, epochs: 1, out: target.dir }, { onEvent: (e) => events.push(e) })).rejects.toThrow(
      `Will not save the model to ${target.dir}: saving replaces the folder, and ${target.dir} is not a Transfer Studio model: metadata.json is missing. ` +
        'Choose a new or empty folder, or a model folder saved earlier.'
    )
    expect(events.filter((e) => e.event === 'epoch')).toEqual([])
    expect(target.digest()).toBe(before)
  })

  it('train --out <the studio home> is refused, and nothing in the home changes', async () => {
    const before = digestTree(env.home)
    await expect(run({ data: dataset, backbone: BACKBONE, epochs: 1, out: env.home })).rejects.toThrow(
      `Will not save the model to ${env.home}: saving replaces the folder`
    )
    expect(digestTree(env.home)).toBe(before)
  })

  it('a model folder holding a file the user added is refused, naming the file', async () => {
    const dir = copyModel()
    fs.writeFileSync(path.join(dir, 'my notes.txt'), 'mine')
    const before = digestTree(dir)
    await expect(run({ data: dataset, backbone: BACKBONE, epochs: 1, out: dir })).rejects.toThrow(
      `${dir} holds files Transfer Studio did not write there (my notes.txt)`
    )
    expect(digestTree(dir)).toBe(before)
  })

  it('an existing file, or a link to a model folder, is refused', async () => {
    const file = path.join(canary().dir, 'notes.txt')
    await expect(run({ data: dataset, backbone: BACKBONE, epochs: 1, out: file })).rejects.toThrow(`${file} is a file, not a folder`)
    const link = path.join(tempDir(), 'link')
    fs.symlinkSync(copyModel(), link)
    await expect(run({ data: dataset, backbone: BACKBONE, epochs: 1, out: link })).rejects.toThrow(`${link} is a symbolic link`)
  })

  it('the save itself checks again: a folder that is not ours at the moment of replacing is left as it was', async () => {
    // As if the destination were swapped after the run started: the last line of defence.
    const target = canary()
    const before = target.digest()
    const staged = await stagingDir(target.dir)
    fs.writeFileSync(path.join(staged, 'metadata.json'), '{}')
    await expect(replaceDir(staged, target.dir, { owned: notAModelFolder })).rejects.toThrow(
      `refused to replace ${target.dir}: ${target.dir} is not a Transfer Studio model: metadata.json is missing`
    )
    expect(target.digest()).toBe(before)
    fs.rmSync(staged, { recursive: true }) // the caller's to remove, as saveModel does
    const { model } = await loadModel(modelDir)
    const metadata = readJson(path.join(modelDir, 'metadata.json'))
    await expect(saveModel(model, metadata, target.dir)).rejects.toThrow(`Will not save the model to ${target.dir}: refused to replace ${target.dir}`)
    model.dispose()
    expect(target.digest()).toBe(before)
    const name = path.basename(target.dir)
    expect(fs.readdirSync(path.dirname(target.dir)).filter((n) => n.startsWith(`.${name}.partial-`) || n.startsWith(`${name}.old-`))).toEqual([])
  })

  it('(control) a model folder saved earlier is replaced', async () => {
    const dir = copyModel()
    const { result } = await run({ data: dataset, backbone: BACKBONE, epochs: 1, seed: 3, out: dir })
    expect(result.modelDir).toBe(dir)
    expect((await loadModel(dir)).metadata.training?.seed).toBe(3)
  })
})

describe('item 7: every file a model names is inside its folder, regular, and of the recorded size', () => {
  it('metadata.json naming ../../../../dev/zero is refused before anything is read', async () => {
    const dir = copyModel()
    const metadata = readJson(path.join(dir, 'metadata.json'))
    metadata.files[1] = { name: '../../../../dev/zero', bytes: 1000, sha256: 'a'.repeat(64) }
    writeJson(path.join(dir, 'metadata.json'), metadata)
    await expect(loadModel(dir)).rejects.toThrow(
      `${path.join(dir, 'metadata.json')} is not valid model metadata: files.1.name: must be a plain file name inside the folder`
    )
  })

  it('a weights file that is a link to /dev/zero, or to a file outside the folder, is not read', async () => {
    const dir = copyModel()
    const outside = canary()
    const before = outside.digest()
    fs.rmSync(path.join(dir, 'weights.bin'))
    fs.symlinkSync('/dev/zero', path.join(dir, 'weights.bin'))
    await expect(loadModel(dir)).rejects.toThrow(`${path.join(dir, 'weights.bin')} cannot be used: a symbolic link, which is not followed here`)
    fs.rmSync(path.join(dir, 'weights.bin'))
    fs.symlinkSync(path.join(outside.dir, 'nested', 'data.bin'), path.join(dir, 'weights.bin'))
    await expect(loadModel(dir)).rejects.toThrow(`${path.join(dir, 'weights.bin')} cannot be used: a symbolic link`)
    expect(outside.digest()).toBe(before)
  })

  it('a FIFO in place of the weights is refused at once', async () => {
    const dir = copyModel()
    fs.rmSync(path.join(dir, 'weights.bin'))
    mkfifo(path.join(dir, 'weights.bin'))
    const load = loadModel(dir)
    await expect(load).rejects.toThrow(`${path.join(dir, 'weights.bin')} cannot be used: not a regular file: it is a named pipe (FIFO)`)
    expect(await timed(load)).toBeLessThan(5000)
  })

  it('a 3 GB weights file is refused by its size, without reading it', async () => {
    const dir = copyModel()
    const file = path.join(dir, 'weights.bin')
    const recorded = fs.statSync(file).size
    fs.truncateSync(file, 3 * 1024 ** 3) // sparse: costs no disk
    const rss = process.memoryUsage().rss
    await expect(loadModel(dir)).rejects.toThrow(`${file} is damaged: it holds ${3 * 1024 ** 3} bytes, not the ${recorded} recorded for it in metadata.json`)
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 1024 * 1024)
  })
})

describe('item 8: numbers read from files have sane maxima, named with the file and the field', () => {
  it('inputSize 30000 in metadata.json', async () => {
    const dir = copyModel()
    const metadata = readJson(path.join(dir, 'metadata.json'))
    writeJson(path.join(dir, 'metadata.json'), { ...metadata, inputSize: 30000 })
    await expect(loadModel(dir)).rejects.toThrow(
      `${path.join(dir, 'metadata.json')} is not valid model metadata: inputSize: Too big: expected number to be <=1024`
    )
  })

  it('200,001 class names in metadata.json', async () => {
    const dir = copyModel()
    const metadata = readJson(path.join(dir, 'metadata.json'))
    writeJson(path.join(dir, 'metadata.json'), { ...metadata, labels: Array.from({ length: 200_001 }, (_, i) => `c${i}`) })
    await expect(loadModel(dir)).rejects.toThrow('metadata.json is not valid model metadata: labels: Too big: expected array to have <=100000 items')
  })

  it('a Dense layer of a billion units in model.json (checksums made to match)', async () => {
    const dir = copyModel((json) => {
      const dense = json.modelTopology.config.layers.findLastIndex((l) => (l as { class_name: string }).class_name === 'Dense')
      ;(json.modelTopology.config.layers[dense] as { config: { units: number } }).config.units = 1_000_000_000
    })
    await expect(loadModel(dir)).rejects.toThrow(
      new RegExp(`^${path.join(dir, 'model.json')}: modelTopology\\.config\\.layers\\.\\d+\\.config\\.units: 1000000000 is larger than 65536$`)
    )
  })

  it('a weight shape of ten billion values, and 6000 layers, in model.json', async () => {
    const huge = copyModel((json) => void (json.weightsManifest[0].weights[0].shape = [100_000, 100_000]))
    await expect(loadModel(huge)).rejects.toThrow(`${path.join(huge, 'model.json')}: weightsManifest: more than 200000000 parameters in all`)
    const many = copyModel((json) => void (json.modelTopology.config.layers = Array.from({ length: 6000 }, () => ({}))))
    await expect(loadModel(many)).rejects.toThrow(
      `${path.join(many, 'model.json')} is not a TensorFlow.js layers model we saved: modelTopology.config.layers: Too big: expected array to have <=5000 items`
    )
  })
})

describe('item 8: a backbone in the weights cache is held to the same limits', () => {
  it('a cached backbone model.json asking for a billion filters is refused, naming the file and the field', async () => {
    const cacheHome = tempDir()
    ;(await loadBackbone(BACKBONE, { home: cacheHome, mirror: env.mirror })).model.dispose()
    const dir = path.join(cacheHome, 'weights', BACKBONE)
    const json = readJson(path.join(dir, 'model.json'))
    const layers = json.modelTopology.model_config.config.layers as Array<{ config: { filters?: number } }>
    const conv = layers.findIndex((l) => l.config.filters !== undefined)
    layers[conv].config.filters = 1_000_000_000
    const bytes = Buffer.from(JSON.stringify(json))
    fs.writeFileSync(path.join(dir, 'model.json'), bytes)
    const manifest = readJson(path.join(dir, 'cache-manifest.json'))
    manifest.files = manifest.files.map((f: { name: string }) => (f.name === 'model.json' ? { ...f, bytes: bytes.length, sha256: sha256(bytes) } : f))
    writeJson(path.join(dir, 'cache-manifest.json'), manifest)
    await expect(loadBackbone(BACKBONE, { home: cacheHome, mirror: env.mirror })).rejects.toThrow(
      `${path.join(dir, 'model.json')}: modelTopology.model_config.config.layers.${conv}.config.filters: 1000000000 is larger than 65536`
    )
  })
})

describe('item 6 and resume: paths read back from a run are checked, the run folder is the only output', () => {
  let stoppedRun: string
  beforeAll(async () => {
    const controller = new AbortController()
    const { result } = await run(
      { data: dataset, backbone: BACKBONE, epochs: 2 },
      { signal: controller.signal, onEvent: (e) => e.event === 'epoch' && controller.abort() }
    )
    expect(result.history).toHaveLength(1)
    stoppedRun = result.runDir
  })

  const copyRun = (): string => {
    const dir = path.join(tempDir(), 'run')
    fs.cpSync(stoppedRun, dir, { recursive: true })
    return dir
  }

  it('a state.json edited to name another dataset is refused (it disagrees with run.json)', async () => {
    const runDir = copyRun()
    const elsewhere = canary()
    const before = elsewhere.digest()
    const stateFile = path.join(runDir, 'state', 'state.json')
    const state = readJson(stateFile)
    writeJson(stateFile, { ...state, config: { ...state.config, data: elsewhere.dir } })
    await expect(run(null, { resume: runDir })).rejects.toThrow(
      `${stateFile} and ${path.join(runDir, 'run.json')} disagree about data: one of them was edited, so the run is not resumed`
    )
    expect(elsewhere.digest()).toBe(before)
  })

  it('a dataset outside the folders the user opened is refused, even when both files agree', async () => {
    const runDir = copyRun()
    const elsewhere = smallDataset(3)
    for (const file of [path.join(runDir, 'run.json'), path.join(runDir, 'state', 'state.json')]) {
      const record = readJson(file)
      writeJson(file, { ...record, config: { ...record.config, data: elsewhere } })
    }
    await expect(run(null, { resume: runDir, openedFolders: [dataset] })).rejects.toThrow(
      `${path.join(runDir, 'run.json')}: data names ${elsewhere}, which is outside the folders you opened: the run is not resumed`
    )
  })

  it('a dataset whose classes are not the ones the run trained is refused (the command line passes no opened folders)', async () => {
    const runDir = copyRun()
    const other = smallDataset(3, ['shine', 'sunrise'])
    const before = digestTree(other)
    for (const file of [path.join(runDir, 'run.json'), path.join(runDir, 'state', 'state.json')]) {
      const record = readJson(file)
      writeJson(file, { ...record, config: { ...record.config, data: other } })
    }
    const tensors = tf.memory().numTensors
    await expect(run(null, { resume: runDir })).rejects.toThrow(
      `${other} now has the classes shine, sunrise, but the run was trained on cloudy, rain: it cannot continue on other classes`
    )
    expect(tf.memory().numTensors).toBe(tensors) // the saved weights it read are released
    expect(digestTree(other)).toBe(before)
  })

  it('an output path written into the run files is never written to: the model goes to the run folder', async () => {
    const runDir = copyRun()
    const target = copyModel() // even one of our own models elsewhere stays as it is
    const before = digestTree(target)
    for (const file of [path.join(runDir, 'run.json'), path.join(runDir, 'state', 'state.json')]) {
      const record = readJson(file)
      writeJson(file, { ...record, config: { ...record.config, out: target } })
    }
    const { result, events } = await run(null, { resume: runDir })
    expect(result.modelDir).toBe(path.join(runDir, 'model'))
    expect(events).toContainEqual({
      event: 'notice',
      message: `The model is saved in ${path.join(runDir, 'model')}: a resumed run writes only inside its own folder unless told where`
    })
    expect(digestTree(target)).toBe(before)
  })

  it('a state.json with an impossible value names the file and the field; resume keeps startedAt', async () => {
    const runDir = copyRun()
    const stateFile = path.join(runDir, 'state', 'state.json')
    const state = readJson(stateFile)
    writeJson(stateFile, { ...state, epochsDone: -5 })
    await expect(run(null, { resume: runDir })).rejects.toThrow(`${stateFile} is not a valid run state: epochsDone: Too small: expected number to be >=1`)
    const weightsIndex = path.join(runDir, 'state', 'weights.json')
    writeJson(stateFile, state)
    writeJson(weightsIndex, { names: ['0'], shapes: [[100_000, 100_000]] })
    await expect(run(null, { resume: runDir })).rejects.toThrow(`${weightsIndex} is not a valid tensor index: more than 200000000 values in all`)

    const fresh = copyRun()
    const startedAt = readJson(path.join(fresh, 'run.json')).startedAt
    await run(null, { resume: fresh })
    const record = readJson(path.join(fresh, 'run.json'))
    expect(record.startedAt).toBe(startedAt)
    expect(record.resumedAt > startedAt).toBe(true)
  })

  it('a run killed in its first epoch resumes from epoch 1, saying so', async () => {
    let runDir = ''
    await expect(
      run(
        { data: dataset, backbone: BACKBONE, epochs: 2, batchSize: 4 },
        {
          onEvent: (e) => {
            if (e.event === 'run') runDir = e.runDir
            if (e.event === 'batch') throw new Error('killed') // the process dies mid-epoch: nothing after this runs
          }
        }
      )
    ).rejects.toThrow('killed')
    expect(fs.existsSync(path.join(runDir, 'state'))).toBe(false)
    const { result, events } = await run(null, { resume: runDir })
    expect(events).toContainEqual({ event: 'notice', message: `${runDir} stopped before its first epoch finished: training starts again from epoch 1` })
    expect(result.history.map((h) => h.epoch)).toEqual([1, 2])
  })

  it('(control) the state of a diverged run, its NaN loss saved as null, still passes the schema', () => {
    const state = readJson(path.join(stoppedRun, 'state', 'state.json'))
    state.history[0].loss = null
    const parsed = RunStateRecord.parse(JSON.parse(JSON.stringify(state)))
    expect(parsed.history[0].loss).toBeNaN()
  })

  it('a folder that is not a run is refused as such', async () => {
    const target = canary()
    await expect(run(null, { resume: target.dir })).rejects.toThrow(`${target.dir} is not a training run: it has no run.json`)
  })
})

describe('item 9: only regular files are read, no read waits forever, Stop always works', () => {
  it('a scan skips a FIFO and a link to one, with the reason, and finishes', async () => {
    const root = smallDataset(3)
    mkfifo(path.join(root, 'cloudy', 'pipe.jpg'))
    fs.symlinkSync(path.join(root, 'cloudy', 'pipe.jpg'), path.join(root, 'rain', 'link.jpg'))
    const { report } = await loadDataset(root)
    expect(report.total).toBe(6)
    expect(report.skipped).toEqual(
      expect.arrayContaining([
        { file: path.join(root, 'cloudy', 'pipe.jpg'), reason: 'not a regular file (a named pipe (FIFO))' },
        { file: path.join(root, 'rain', 'link.jpg'), reason: 'symbolic link to a named pipe (FIFO): not an image' }
      ])
    )
  })

  it('decoding a FIFO or a device named like a photo fails at once with the reason', async () => {
    const fifo = path.join(tempDir(), 'photo.jpg')
    mkfifo(fifo)
    const decode = decodeImage(fifo, 224)
    await expect(decode).rejects.toMatchObject({ file: fifo, reason: 'not a regular file: it is a named pipe (FIFO)' })
    expect(await timed(decode)).toBeLessThan(5000)
    const zero = path.join(tempDir(), 'zero.jpg')
    fs.symlinkSync('/dev/zero', zero)
    await expect(decodeImage(zero, 224)).rejects.toMatchObject({ reason: 'not a regular file: it is a character device' })
  })

  it('a FIFO put in place of an image mid-training is skipped and the run finishes', { timeout: 180_000 }, async () => {
    const root = smallDataset()
    const victim = path.join(root, 'rain', '2.jpg')
    const { result, events } = await run(
      // No memory budget and no feature cache: every epoch reads the images from disk again.
      { data: root, backbone: BACKBONE, epochs: 2, batchSize: 4, cacheFeatures: false, featureCacheMB: 0, valSplit: 0.34 },
      {
        onEvent: (e) => {
          if (e.event === 'epoch' && e.epoch === 1) {
            fs.rmSync(victim)
            mkfifo(victim)
          }
        }
      }
    )
    expect(result.history).toHaveLength(2)
    expect(events).toContainEqual({ event: 'skipped', file: victim, reason: 'not a regular file: it is a named pipe (FIFO)' })
  })

  it('a FIFO swapped in before feature extraction is skipped; Stop during extraction ends the run at once', { timeout: 180_000 }, async () => {
    const root = smallDataset(10)
    const victim = path.join(root, 'cloudy', '1.jpg')
    const swap = (e: TrainEvent) => {
      if (e.event === 'path') {
        fs.rmSync(victim)
        mkfifo(victim)
      }
    }
    const { events } = await run({ data: root, backbone: BACKBONE, epochs: 1 }, { onEvent: swap })
    expect(events).toContainEqual({ event: 'skipped', file: victim, reason: 'not a regular file: it is a named pipe (FIFO)' })

    const controller = new AbortController()
    let stoppedAt = 0
    const stopped = run(
      { data: smallDataset(10), backbone: BACKBONE, epochs: 1, featureCacheMB: 0 },
      {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.event === 'status' && e.phase === 'extracting' && !stoppedAt) {
            stoppedAt = Date.now()
            controller.abort()
          }
        }
      }
    )
    const outcome = await stopped.then(
      (r: { result: TrainResult }) => r.result.stopped,
      (e: Error) => e.message
    )
    expect(stoppedAt).toBeGreaterThan(0)
    // A Stop, not a failure: the run ends as stopped (run-lifecycle.test.ts checks what it leaves).
    expect(outcome).toBe('stopped')
    expect(Date.now() - stoppedAt).toBeLessThan(15_000)
  })

  it('a feature cache index pointing at a FIFO is rebuilt, not read', { timeout: 180_000 }, async () => {
    const cacheHome = tempDir()
    const root = smallDataset()
    const config = { data: root, backbone: BACKBONE, epochs: 1, featureCacheMB: 0 }
    const first = await run(config, { home: cacheHome })
    const cacheDir = path.join(cacheHome, 'cache', 'features')
    const index = fs.readdirSync(cacheDir).find((f) => f.endsWith('.json'))!
    const data = path.join(cacheDir, index.replace(/\.json$/, '.f32'))
    // An index whose sizes agree with an empty file, and a FIFO where the rows were.
    writeJson(path.join(cacheDir, index), { ...readJson(path.join(cacheDir, index)), count: 0, labels: [], files: [], sha256: sha256(Buffer.alloc(0)) })
    fs.rmSync(data)
    mkfifo(data)
    const second = await run(config, { home: cacheHome })
    expect(second.events).toContainEqual({
      event: 'notice',
      message: `The feature cache ${data} is damaged (checksum or size differs): computing the features again`
    })
    expect(second.result.history.map((h) => h.val_loss)).toEqual(first.result.history.map((h) => h.val_loss))
  })

  it('a read that never completes gives up after its time limit, or at once when stopped', async () => {
    const never = new Promise<never>(() => {})
    await expect(withTimeout(never, 50, undefined, () => new Error('took too long'))).rejects.toThrow('took too long')
    const controller = new AbortController()
    const waiting = withTimeout(never, 60_000, controller.signal, () => new Error('took too long'))
    controller.abort(new Error('Stopped'))
    await expect(waiting).rejects.toThrow('Stopped')
  })
})

describe('weaker points', () => {
  it('a folder tree 1,500 levels deep is scanned', async () => {
    const root = smallDataset(2)
    let deep = path.join(root, 'rain')
    for (let i = 0; i < 1500; i++) deep = path.join(deep, 'd')
    fs.mkdirSync(deep, { recursive: true })
    fs.copyFileSync(path.join(root, 'rain', '0.jpg'), path.join(deep, 'deep.jpg'))
    const { report } = await loadDataset(root)
    expect(report.total).toBe(5)
  })

  it(
    'a nested folder of 140,000 files is walked (the old walk spread them into one call: "Maximum call stack size exceeded")',
    { timeout: 600_000 },
    async () => {
      const root = smallDataset(2)
      const wide = path.join(root, 'rain', 'export', 'thumbs')
      fs.mkdirSync(wide, { recursive: true })
      // Empty files: listed by the walk, then skipped by the sniff as empty.
      for (let i = 0; i < 140_000; i++) fs.closeSync(fs.openSync(path.join(wide, `${i}.jpg`), 'w'))
      const { report } = await loadDataset(root)
      expect(report.total).toBe(4)
      expect(report.skipped.filter((s) => s.file.startsWith(wide))).toHaveLength(140_000)
      fs.rmSync(root, { recursive: true, force: true })
    }
  )

  it('a class folder with no training images is refused, saying which and why', async () => {
    const root = smallDataset(4)
    fs.mkdirSync(path.join(root, 'sunrise'))
    fs.writeFileSync(path.join(root, 'sunrise', 'readme.txt'), 'empty for now')
    await expect(run({ data: root, backbone: BACKBONE, epochs: 1 })).rejects.toThrow(
      `${root}: no training images for "sunrise", so the model could never learn to recognise that class. Add images to it, or remove its folder.`
    )
  })

  it('an edited evaluation.json is refused, naming the file and the field', async () => {
    const runDir = tempDir()
    writeJson(path.join(runDir, 'evaluation.json'), { accuracy: 'high', loss: 0, classes: [], confusion: [], perClass: [], misclassified: [], skipped: [] })
    await expect(readEvaluation(runDir)).rejects.toThrow(
      `${path.join(runDir, 'evaluation.json')} is not a valid evaluation: accuracy: Invalid input: expected number, received string`
    )
    fs.rmSync(path.join(runDir, 'evaluation.json'))
    mkfifo(path.join(runDir, 'evaluation.json'))
    await expect(readEvaluation(runDir)).rejects.toThrow(
      `${path.join(runDir, 'evaluation.json')} cannot be used: not a regular file: it is a named pipe (FIFO)`
    )
  })
})
