// Listing a folder of photos to classify it in one go, and the host opening that folder only once
// the listing succeeded (as it does for a scanned dataset).
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { listFolderImages } from '../../../src/engine/inference/folder-images'
import { AllowedFolders, runAdmitted } from '../../../src/host/allowed'
import { ODD, PHOTOS, tempDir } from '../../helpers'

describe('listFolderImages', () => {
  it('lists the photos directly inside a folder, sorted, and names every other file with its reason', async () => {
    const dir = tempDir()
    for (const name of ['rocket.jpg', 'chelsea.png']) fs.copyFileSync(path.join(PHOTOS, name), path.join(dir, name))
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a photo')
    fs.mkdirSync(path.join(dir, 'nested'))
    fs.copyFileSync(path.join(PHOTOS, 'coffee.png'), path.join(dir, 'nested', 'coffee.png'))
    const listed = await listFolderImages(dir)
    expect(listed.dir).toBe(path.resolve(dir))
    expect(listed.files).toEqual([path.join(dir, 'chelsea.png'), path.join(dir, 'rocket.jpg')])
    expect(listed.skipped).toEqual([{ file: path.join(dir, 'notes.txt'), reason: 'text file, not an image' }])
  })

  it('skips the odd files with what they are', async () => {
    const listed = await listFolderImages(ODD)
    expect(listed.skipped.length).toBeGreaterThan(0)
    for (const skipped of listed.skipped) expect(skipped.reason.length).toBeGreaterThan(5)
  })

  it('refuses a folder without photos, saying what it holds', async () => {
    const dir = tempDir()
    await expect(listFolderImages(dir)).rejects.toThrow(`${path.resolve(dir)} has no photos directly inside it`)
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a photo')
    await expect(listFolderImages(dir)).rejects.toThrow(`${path.resolve(dir)} has no photos directly inside it (1 other file)`)
    const folders = new AllowedFolders([])
    await expect(runAdmitted({ command: 'listFolderImages', dir }, folders, (command) => listFolderImages((command as { dir: string }).dir))).rejects.toThrow(
      /no photos/
    )
    await expect(folders.check(path.join(dir, 'notes.txt'))).rejects.toThrow(/outside/)
  })

  it('says what is wrong with a missing folder or a file', async () => {
    await expect(listFolderImages(path.join(PHOTOS, 'missing'))).rejects.toThrow(`Folder not found: ${path.join(PHOTOS, 'missing')}`)
    await expect(listFolderImages(path.join(PHOTOS, 'rocket.jpg'))).rejects.toThrow('is not a folder')
  })

  it('opens the folder for the files it lists only when listing succeeded', async () => {
    const folders = new AllowedFolders([])
    const dir = tempDir()
    fs.copyFileSync(path.join(PHOTOS, 'rocket.jpg'), path.join(dir, 'rocket.jpg'))
    await expect(folders.check(path.join(dir, 'rocket.jpg'))).rejects.toThrow(/outside/)
    await expect(runAdmitted({ command: 'listFolderImages', dir }, folders, async () => Promise.reject(new Error('failed')))).rejects.toThrow('failed')
    await expect(folders.check(path.join(dir, 'rocket.jpg'))).rejects.toThrow(/outside/)
    await runAdmitted({ command: 'listFolderImages', dir }, folders, (command) => listFolderImages((command as { dir: string }).dir))
    expect(await folders.check(path.join(dir, 'rocket.jpg'))).toBe(fs.realpathSync(path.join(dir, 'rocket.jpg')))
    await expect(runAdmitted({ command: 'listFolderImages', dir: path.join(dir, 'gone') }, folders, async () => 'never')).rejects.toThrow(/Folder not found/)
  })
})
