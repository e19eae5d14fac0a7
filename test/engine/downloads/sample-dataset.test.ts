// "Try a sample dataset": the tutorial's archive through the weights mirror (a folder: copying;
// a URL: downloading, with speed and time left), unpacked whole into the studio home, once.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { entryParts, ensureSampleDataset, sampleUrl, SAMPLE_DATASETS } from '../../../src/engine/downloads/sample-dataset'
import type { DownloadProgress } from '../../../src/shared/protocol'
import { describeDownload } from '../../../src/shared/download-progress'
import { DATA, tempDir } from '../../helpers'
import { filesBelow, SAMPLE_ZIP_PATH, sampleMirror } from '../../sample-zip'

const digest = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex')

let mirror: string
let zipBytes: Buffer
let server: http.Server
let base: string

beforeAll(async () => {
  mirror = sampleMirror()
  zipBytes = fs.readFileSync(path.join(mirror, SAMPLE_ZIP_PATH))
  // A throttled server (1 MiB every 50 ms, about 20 MB/s at most), so speed and time left can be measured.
  server = http.createServer((req, res) => {
    if (req.url !== `/${SAMPLE_ZIP_PATH}`) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-length': zipBytes.length })
    let at = 0
    const next = (): void => {
      if (at >= zipBytes.length) return void res.end()
      const piece = zipBytes.subarray(at, at + 1024 * 1024)
      at += piece.length
      res.write(piece)
      setTimeout(next, 50)
    }
    next()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

describe('the sample dataset', () => {
  it('comes from the official URL, or the same path under the weights mirror', () => {
    expect(sampleUrl(SAMPLE_DATASETS.hymenoptera, undefined)).toBe('https://download.pytorch.org/tutorial/hymenoptera_data.zip')
    expect(sampleUrl(SAMPLE_DATASETS.hymenoptera, 'http://mirror.local/w')).toBe('http://mirror.local/w/tutorial/hymenoptera_data.zip')
    expect(sampleUrl(SAMPLE_DATASETS.hymenoptera, '/srv/w')).toBe('file:///srv/w/tutorial/hymenoptera_data.zip')
  })

  it('copies from a mirror folder ("copying"), unpacks every photo unchanged, and the second time does nothing', async () => {
    const home = tempDir('ts-sample-home-')
    const progress: DownloadProgress[] = []
    const notices: string[] = []
    const first = await ensureSampleDataset('hymenoptera', { home, mirror, onProgress: (p) => progress.push(p), onNotice: (n) => notices.push(n) })
    expect(first).toEqual({ dir: path.join(home, 'samples', 'hymenoptera_data'), downloaded: true })
    const original = path.join(DATA, 'hymenoptera')
    const files = filesBelow(first.dir).filter((f) => !f.startsWith('.transfer-studio'))
    expect(files).toEqual(filesBelow(original))
    for (const file of files.filter((_, i) => i % 40 === 0)) expect(digest(path.join(first.dir, file))).toBe(digest(path.join(original, file)))
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.every((p) => p.action === 'copying')).toBe(true)
    expect(progress.at(-1)).toMatchObject({ backbone: 'hymenoptera', bytes: zipBytes.length, totalBytes: zipBytes.length, done: true })
    expect(describeDownload(progress.at(-1)!)).toMatch(/^Copying the sample dataset \(ants and bees\) from the local mirror: \d+\.\d MB of \d+\.\d MB/)
    expect(notices).toEqual([`Unpacking hymenoptera_data.zip into ${path.join(home, 'samples')}`])
    // The archive (ours) is gone; only the folder stays.
    expect(fs.readdirSync(path.join(home, 'samples'))).toEqual(['hymenoptera_data'])
    const again: DownloadProgress[] = []
    expect(await ensureSampleDataset('hymenoptera', { home, mirror, onProgress: (p) => again.push(p) })).toEqual({ dir: first.dir, downloaded: false })
    expect(again).toEqual([])
  })

  it('downloads from a URL ("downloading") with bytes, speed and time left', async () => {
    const home = tempDir('ts-sample-home-')
    const progress: DownloadProgress[] = []
    const { dir } = await ensureSampleDataset('hymenoptera', { home, mirror: base, onProgress: (p) => progress.push(p) })
    expect(filesBelow(dir).filter((f) => !f.startsWith('.transfer-studio'))).toEqual(filesBelow(path.join(DATA, 'hymenoptera')))
    expect(progress.every((p) => p.action === 'downloading')).toBe(true)
    const measured = progress.filter((p) => p.bytesPerSecond && !p.done)
    expect(measured.length).toBeGreaterThan(3)
    // At most 21 MB/s by the server's pace; the machine is shared, so only the order of magnitude.
    for (const p of measured) {
      expect(p.bytesPerSecond!).toBeGreaterThan(1e6)
      expect(p.bytesPerSecond!).toBeLessThan(25e6)
      // Time left agrees with the bytes left at that speed.
      expect(p.secondsLeft!).toBeCloseTo((p.totalBytes! - p.bytes) / p.bytesPerSecond!, 5)
    }
    const middle = measured[Math.floor(measured.length / 2)]
    expect(describeDownload(middle)).toMatch(/^Downloading the sample dataset \(ants and bees\): \d+\.\d MB of \d+\.\d MB · \d+\.\d MB\/s · \d+ s left$/)
    expect(progress.at(-1)).toMatchObject({ bytes: zipBytes.length, done: true })
  })

  it('names the URL and the mirror setting when the archive cannot be had', async () => {
    const home = tempDir('ts-sample-home-')
    const empty = tempDir('ts-empty-mirror-')
    await expect(ensureSampleDataset('hymenoptera', { home, mirror: empty })).rejects.toThrow(
      `Could not get the sample dataset (ants and bees) from file://${empty}/tutorial/hymenoptera_data.zip: ${empty}/tutorial/hymenoptera_data.zip does not exist. ` +
        'Without internet access, put tutorial/hymenoptera_data.zip under a folder and set TRANSFER_STUDIO_WEIGHTS=<folder>.'
    )
    expect(fs.existsSync(path.join(home, 'samples', 'hymenoptera_data'))).toBe(false)
  })

  it('refuses an archive whose entries would leave their folder, and skips macOS leftovers', () => {
    expect(entryParts('hymenoptera_data/train/ants/1.jpg', 'a.zip')).toEqual(['hymenoptera_data', 'train', 'ants', '1.jpg'])
    expect(entryParts('hymenoptera_data/train/', 'a.zip')).toEqual(['hymenoptera_data', 'train'])
    expect(entryParts('__MACOSX/hymenoptera_data/._1.jpg', 'a.zip')).toBeNull()
    expect(entryParts('hymenoptera_data/.DS_Store', 'a.zip')).toBeNull()
    for (const bad of ['../evil.jpg', 'hymenoptera_data/../../evil', '/etc/passwd', 'a\\..\\b', 'C:/x', 'a//b']) {
      expect(() => entryParts(bad, 'a.zip')).toThrow(`a.zip: the entry "${bad}" would be unpacked outside its folder; the archive was refused`)
    }
  })
})
