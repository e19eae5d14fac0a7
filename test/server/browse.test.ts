// The first screen's host side: the folder browser (confined to its places: no way out by `..` or
// symbolic links), `~` in typed paths, recent datasets kept in the studio home, thumbnails of
// CIFAR-10 records and linked images over HTTP, and a clear error when the port is taken.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { startServer, type RunningServer } from '../../src/server/serve'
import type { FolderListing, RecentDataset } from '../../src/shared/host-commands'
import { DATA, ODD, ROOT, tempDir, weightsMirror } from '../helpers'

let server: RunningServer
let ws: WebSocket
let userHome: string
let studioHome: string
let outside: string
let nextId = 1

function ask<T>(body: unknown): Promise<T> {
  const id = nextId++
  return new Promise((resolve, reject) => {
    const listen = (data: WebSocket.RawData): void => {
      const message = JSON.parse(data.toString())
      if (message.id !== id) return
      ws.off('message', listen)
      if (message.ok) resolve(message.result as T)
      else reject(new Error(message.error))
    }
    ws.on('message', listen)
    ws.send(JSON.stringify({ id, body }))
  })
}

beforeAll(async () => {
  const root = tempDir('ts-browse-')
  userHome = path.join(root, 'home')
  studioHome = path.join(root, 'studio')
  outside = path.join(root, 'outside')
  // home/photos/ants-bees: a dataset of two class folders, made of links to real photos.
  const dataset = path.join(userHome, 'photos', 'ants-bees')
  for (const label of ['ants', 'bees']) {
    fs.mkdirSync(path.join(dataset, label), { recursive: true })
    const source = path.join(DATA, 'hymenoptera', 'train', label)
    for (const name of fs.readdirSync(source).sort().slice(0, 3)) fs.symlinkSync(path.join(source, name), path.join(dataset, label, name))
  }
  fs.mkdirSync(path.join(userHome, 'empty'))
  fs.mkdirSync(studioHome)
  fs.mkdirSync(path.join(userHome, '.hidden'))
  fs.mkdirSync(path.join(outside, 'secret', 'cats'), { recursive: true })
  fs.copyFileSync(path.join(ODD, 'hymenoptera_formica.jpeg'), path.join(outside, 'secret', 'cats', 'a.jpg'))
  // A link out of the home folder, and one that stays inside it.
  fs.symlinkSync(path.join(outside, 'secret'), path.join(userHome, 'escape'))
  fs.symlinkSync(path.join(userHome, 'photos'), path.join(userHome, 'pictures'))
  process.env.TRANSFER_STUDIO_WEIGHTS = weightsMirror()
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    rendererDir: path.join(ROOT, 'out', 'renderer'),
    engine: { entry: path.join(ROOT, 'src', 'engine', 'process.ts'), execArgv: ['--import', 'tsx'] },
    home: studioHome,
    userHome,
    browse: [DATA]
  })
  ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`)
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
})
afterAll(async () => {
  ws?.close()
  await server?.close()
})

describe('the folder browser', () => {
  it('starts in the home folder, listing sub-folders with their image counts; hidden ones and links out are left out', async () => {
    const listing = await ask<FolderListing>({ command: 'browseFolder' })
    expect(listing.dir).toBe(fs.realpathSync(userHome))
    expect(listing.parent).toBeNull()
    expect(listing.folders.map((f) => [f.name, f.images, f.dataset])).toEqual([
      ['empty', 0, false],
      ['photos', 6, false],
      // A link that stays inside is listed under its own name, at its real place.
      ['pictures', 6, false]
    ])
    expect(listing.folders[2].dir).toBe(fs.realpathSync(path.join(userHome, 'photos')))
    expect(listing.hidden).toBe(1)
    expect(listing.places.map((p) => p.label)).toEqual(['Home', 'Studio folder', 'data'])
  })

  it('knows a dataset when it sees one, and expands ~', async () => {
    const photos = await ask<FolderListing>({ command: 'browseFolder', dir: '~/photos' })
    expect(photos.dir).toBe(fs.realpathSync(path.join(userHome, 'photos')))
    expect(photos.parent).toBe(fs.realpathSync(userHome))
    expect(photos.folders).toEqual([{ name: 'ants-bees', dir: path.join(photos.dir, 'ants-bees'), images: 6, more: false, dataset: true }])
    const data = await ask<FolderListing>({ command: 'browseFolder', dir: DATA })
    const byName = Object.fromEntries(data.folders.map((f) => [f.name, f]))
    // Counted by name, without reading a byte (the scan then checks each file's content): 396 .jpg, a .jpeg and a .gif.
    expect(byName.hymenoptera).toMatchObject({ images: 398, more: false, dataset: true })
    // CIFAR-10 batches count their records.
    const cifarRecords = fs
      .readdirSync(path.join(DATA, 'cifar10-bin-subset'))
      .filter((n) => n.endsWith('.bin'))
      .reduce((sum, n) => sum + fs.statSync(path.join(DATA, 'cifar10-bin-subset', n)).size / 3073, 0)
    expect(byName['cifar10-bin-subset']).toMatchObject({ images: cifarRecords, dataset: true })
  })

  it('refuses to go up past its places, through `..`, or through a link that leads out', async () => {
    await expect(ask({ command: 'browseFolder', dir: path.join(userHome, '..') })).rejects.toThrow(/^Refused: .* is outside the folders you may browse/)
    await expect(ask({ command: 'browseFolder', dir: path.join(userHome, 'photos', '..', '..', 'outside') })).rejects.toThrow(
      /outside the folders you may browse/
    )
    await expect(ask({ command: 'browseFolder', dir: path.join(userHome, 'escape') })).rejects.toThrow(/outside the folders you may browse/)
    await expect(ask({ command: 'browseFolder', dir: path.join(userHome, 'escape', 'cats') })).rejects.toThrow(/outside the folders you may browse/)
    await expect(ask({ command: 'browseFolder', dir: '/' })).rejects.toThrow(/outside the folders you may browse/)
    await expect(ask({ command: 'browseFolder', dir: path.join(userHome, 'nowhere') })).rejects.toThrow(`Folder not found: ${path.join(userHome, 'nowhere')}`)
    await expect(ask({ command: 'browseFolder', dir: 5 })).rejects.toThrow(/^Refused a malformed command: dir:/)
  })

  it('opens ~/… typed in the path box, remembers it among recent datasets, and can then browse it and show its linked photos', async () => {
    const report = await ask<{ root: string; classes: string[] }>({ command: 'scan', dir: '~/photos/ants-bees' })
    expect(report.root).toBe(fs.realpathSync(path.join(userHome, 'photos', 'ants-bees')))
    expect(report.classes).toEqual(['ants', 'bees'])
    const recents = await ask<RecentDataset[]>({ command: 'recentDatasets' })
    expect(recents.map((r) => [r.name, r.images, r.classes])).toEqual([['ants-bees', 6, 2]])
    expect(JSON.parse(fs.readFileSync(path.join(studioHome, 'recent-datasets.json'), 'utf8')).datasets[0].dir).toBe(report.root)
    // A linked photo (its target is outside every opened folder) gets a real thumbnail, not 403.
    const first = fs.readdirSync(path.join(report.root, 'ants')).sort()[0]
    const thumb = await fetch(
      `http://127.0.0.1:${server.port}/api/thumb?token=${server.token}&size=96&path=${encodeURIComponent(path.join(report.root, 'ants', first))}`
    )
    expect([thumb.status, thumb.headers.get('content-type')]).toEqual([200, 'image/jpeg'])
  })

  it('shows CIFAR-10 records as thumbnails over HTTP', async () => {
    const dir = path.join(DATA, 'cifar10-bin-subset')
    await ask({ command: 'scan', dir })
    const thumb = await fetch(
      `http://127.0.0.1:${server.port}/api/thumb?token=${server.token}&size=160&path=${encodeURIComponent(path.join(dir, 'data_batch_1.bin') + '#30')}`
    )
    expect([thumb.status, thumb.headers.get('content-type')]).toEqual([200, 'image/jpeg'])
    const recents = await ask<RecentDataset[]>({ command: 'recentDatasets' })
    expect(recents.map((r) => r.name)).toEqual(['cifar10-bin-subset', 'ants-bees'])
  })
})

describe('serve', () => {
  it('says in one line that the port is taken and how to choose another', async () => {
    await expect(
      startServer({
        host: '127.0.0.1',
        port: server.port,
        rendererDir: path.join(ROOT, 'out', 'renderer'),
        engine: { entry: path.join(ROOT, 'src', 'engine', 'process.ts'), execArgv: ['--import', 'tsx'] },
        home: tempDir()
      })
    ).rejects.toThrow(
      `Port ${server.port} on 127.0.0.1 is already in use (another Transfer Studio, or another program): serve on another with --port <n>, or --port 0 for any free one`
    )
  })
})
