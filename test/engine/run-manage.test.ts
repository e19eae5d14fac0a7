// The Runs view's engine side on real runs (MobileNet v1 0.25 on the weather photos): how each run
// ended, renaming, the CSVLogger history, and deletion that takes only what we wrote.
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/engine/backend'
import { exportKerasModel } from '../../src/engine/keras/model-io'
import { deleteRun, exportRunCsv, notOurRunFolder, renameRun } from '../../src/engine/run-manage'
import { historyCsv, listRuns, readRunHistory } from '../../src/engine/runs'
import { runLayout, runsRoot } from '../../src/engine/train/run-layout'
import { train } from '../../src/engine/train/trainer'
import type { TrainConfigInput } from '../../src/shared/protocol'
import { DATA, canary, digestTree, tempDir, trainConfig, weightsMirror } from '../helpers'

let home: string
let completed: string
let stopped: string
const WEATHER = path.join(DATA, 'mini', 'weather')
const config: TrainConfigInput = { data: WEATHER, backbone: 'mobilenet_v1_0.25_224', epochs: 2, batchSize: 8 }

beforeAll(async () => {
  await initBackend()
  home = tempDir()
  const mirror = weightsMirror()
  completed = (await train(trainConfig(config), { home, mirror })).runDir
  // Stopped during its first epoch's last batch: one epoch saved of three.
  const controller = new AbortController()
  stopped = (
    await train(trainConfig({ ...config, epochs: 3 }), {
      home,
      mirror,
      signal: controller.signal,
      onEvent: (e) => e.event === 'batch' && e.batch === e.batches && controller.abort()
    })
  ).runDir
}, 300_000)

/** A copy of a run folder under the runs, as another run. */
function copyRun(from: string, name: string): string {
  const to = path.join(runsRoot(home), name)
  fs.cpSync(from, to, { recursive: true })
  return to
}

describe('run list', () => {
  it('says how each run ended, which can be resumed, and its settings', async () => {
    const runs = await listRuns(home)
    const done = runs.find((r) => r.dir === completed)!
    const halted = runs.find((r) => r.dir === stopped)!
    expect(done).toMatchObject({ status: 'completed', resumable: false, epochsDone: 2, name: null, config: { batchSize: 8, freeze: { kind: 'all' } } })
    expect(done.frozenLayers).toBeGreaterThan(50)
    expect(halted).toMatchObject({ status: 'stopped', resumable: true, epochsDone: 1, epochs: 3 })

    // A run that crashed before saving a model: run.json only.
    const crashed = path.join(runsRoot(home), 'crashed-run')
    fs.mkdirSync(crashed)
    fs.copyFileSync(runLayout(completed).record, runLayout(crashed).record)
    expect((await listRuns(home)).find((r) => r.dir === crashed)).toMatchObject({ status: 'incomplete', resumable: true, modelDir: null, epochsDone: 0 })
    await deleteRun(crashed, home)
  })
})

describe('rename', () => {
  it('stores the name in run.json, keeps every other field, and an empty name removes it', async () => {
    const before = JSON.parse(fs.readFileSync(runLayout(completed).record, 'utf8'))
    expect(await renameRun(completed, '  first try\n', home)).toBe('first try')
    expect(JSON.parse(fs.readFileSync(runLayout(completed).record, 'utf8'))).toEqual({ ...before, name: 'first try' })
    expect((await listRuns(home)).find((r) => r.dir === completed)!.name).toBe('first try')
    expect(await renameRun(completed, '', home)).toBeNull()
    expect(JSON.parse(fs.readFileSync(runLayout(completed).record, 'utf8'))).toEqual(before)
  })

  it('refuses a folder that is not a run of this studio', async () => {
    const elsewhere = tempDir()
    fs.cpSync(completed, elsewhere, { recursive: true })
    await expect(renameRun(elsewhere, 'x', home)).rejects.toThrow(`${elsewhere} is not a run folder of this studio`)
  })
})

describe('history as CSV', () => {
  it("is Keras' CSVLogger's: a header, one row per epoch from 0, the numbers of the run's state", async () => {
    const history = await readRunHistory(completed)
    expect(history.map((e) => e.epoch)).toEqual([1, 2])
    const { file, csv } = await exportRunCsv(completed, home)
    expect(file).toBe(path.join(completed, 'history.csv'))
    expect(fs.readFileSync(file, 'utf8')).toBe(csv)
    const [header, ...rows] = csv.trimEnd().split('\n')
    expect(header).toBe('epoch,acc,loss,val_acc,val_loss,lr')
    expect(rows).toHaveLength(2)
    rows.forEach((row, i) => {
      const [epoch, acc, loss, valAcc, valLoss, lr] = row.split(',').map(Number)
      expect([epoch, acc, loss, valAcc, valLoss, lr]).toEqual([i, history[i].acc, history[i].loss, history[i].val_acc, history[i].val_loss, history[i].lr])
    })
    // Missing validation is "NA", as CSVLogger writes a key it has no value for.
    expect(historyCsv([{ epoch: 1, loss: Number.NaN, acc: 0.5, val_loss: null, val_acc: null, lr: 0.001, seconds: 1 }])).toBe(
      'epoch,acc,loss,val_acc,val_loss,lr\n0,0.5,nan,NA,NA,0.001\n'
    )
  })
})

describe('delete', () => {
  it('removes a run folder we wrote, with its exported files', async () => {
    const copy = copyRun(completed, 'copy-to-delete')
    await exportRunCsv(copy, home)
    await exportKerasModel(runLayout(copy).model)
    expect(await notOurRunFolder(copy)).toBeNull()
    await deleteRun(copy, home)
    expect(fs.existsSync(copy)).toBe(false)
    expect(fs.readdirSync(runsRoot(home)).filter((n) => n.startsWith('.'))).toEqual([])
  })

  it('deletes nothing when the folder holds anything we did not write, or is not a run of this studio', async () => {
    const cases: Array<[string, (dir: string) => void, RegExp]> = [
      ['user file', (dir) => fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine'), /notes\.txt is not something Transfer Studio writes/],
      ['file in model', (dir) => fs.writeFileSync(path.join(dir, 'model', 'photo.jpg'), 'x'), /did not write there \(photo\.jpg\)/],
      ['link out', (dir) => fs.symlinkSync(canary().dir, path.join(dir, 'evaluation-link')), /evaluation-link is not something/],
      ['damaged model', (dir) => fs.writeFileSync(path.join(dir, 'model', 'metadata.json'), '{}'), /is not valid model metadata/],
      ['file in state', (dir) => fs.writeFileSync(path.join(dir, 'state', 'extra.bin'), 'x'), /did not write there \(extra\.bin\)/]
    ]
    for (const [name, spoil, reason] of cases) {
      const copy = copyRun(completed, `spoilt-${name.replace(/ /g, '-')}`)
      spoil(copy)
      const before = digestTree(copy)
      await expect(deleteRun(copy, home), name).rejects.toThrow(reason)
      expect(digestTree(copy), name).toBe(before)
    }
    // Outside the runs (a copy elsewhere, the runs folder itself, the home): refused, untouched.
    const elsewhere = tempDir()
    fs.cpSync(completed, elsewhere, { recursive: true })
    const outside = digestTree(elsewhere)
    await expect(deleteRun(elsewhere, home)).rejects.toThrow('is not a run folder of this studio')
    expect(digestTree(elsewhere)).toBe(outside)
    await expect(deleteRun(runsRoot(home), home)).rejects.toThrow('is not a run folder of this studio')
    await expect(deleteRun(home, home)).rejects.toThrow('is not a run folder of this studio')
    // A link in the runs to a run folder elsewhere: its real path is outside, so nothing goes.
    const link = path.join(runsRoot(home), 'linked-run')
    fs.symlinkSync(elsewhere, link)
    await expect(deleteRun(link, home)).rejects.toThrow('is not a run folder of this studio')
    expect(digestTree(elsewhere)).toBe(outside)
  })
})
