import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { admit, AllowedFolders, runAdmitted } from '../../src/host/allowed'
import { tempDir } from '../helpers'

describe('admit', () => {
  it('resumeTraining carries the folders the user opened to the engine, never the ones a client claims', async () => {
    const home = tempDir()
    const opened = tempDir()
    const folders = new AllowedFolders([home])
    await folders.open(opened)
    const runDir = path.join(home, 'runs', 'r1')
    fs.mkdirSync(runDir, { recursive: true })
    const admitted = await admit({ command: 'resumeTraining', runDir, openedFolders: ['/'] }, folders)
    expect(admitted).toEqual({ command: 'resumeTraining', runDir, openedFolders: [home, fs.realpathSync(opened)] })
  })

  it('opens a scanned folder only when its scan succeeds', async () => {
    const folders = new AllowedFolders([])
    const broken = tempDir()
    const file = path.join(broken, 'secret.txt')
    fs.writeFileSync(file, 'not a dataset')
    await expect(runAdmitted({ command: 'scan', dir: broken }, folders, async () => Promise.reject(new Error('No images in it')))).rejects.toThrow('No images')
    await expect(folders.check(file)).rejects.toThrow(/outside the folders you opened/)
    await expect(admit({ command: 'listImages', dir: broken, split: 'train', label: 'a', offset: 0, limit: 1 }, folders)).rejects.toThrow(/outside/)

    const good = tempDir()
    expect(await runAdmitted({ command: 'scan', dir: good }, folders, async () => 'scanned')).toBe('scanned')
    expect(await folders.check(good)).toBe(fs.realpathSync(good))
    await expect(runAdmitted({ command: 'scan', dir: path.join(good, 'missing') }, folders, async () => 'never')).rejects.toThrow(/Folder not found/)
  })

  it('checks every path of predictWithModel and the out folder of resumeTraining', async () => {
    const home = tempDir()
    const outside = tempDir()
    const folders = new AllowedFolders([home])
    const inside = path.join(home, 'a.png')
    await expect(admit({ command: 'predictWithModel', model: home, files: [inside, path.join(outside, 'b.png')] }, folders)).rejects.toThrow(
      `Refused: ${fs.realpathSync(outside)}/b.png is outside the folders you opened`
    )
    await expect(admit({ command: 'predictWithModel', model: home, files: [inside] }, folders)).resolves.toMatchObject({ files: [inside] })
    const runDir = path.join(home, 'runs', 'r1')
    fs.mkdirSync(runDir, { recursive: true })
    await expect(admit({ command: 'resumeTraining', runDir, out: path.join(outside, 'model') }, folders)).rejects.toThrow('is outside the folders you opened')
  })
})
