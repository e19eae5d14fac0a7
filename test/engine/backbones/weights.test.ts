import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBackbone } from '../../../src/engine/backbones/load'
import { backboneSpec } from '../../../src/engine/backbones/registry'
import { CACHE_MANIFEST, cacheDir, ensureWeights, modelJsonUrl, readVerified } from '../../../src/engine/backbones/weights'
import type { DownloadProgress } from '../../../src/shared/protocol'
import { MODELS, tempDir } from '../../helpers'

const ID = 'mobilenet_v1_0.25_224'
const spec = backboneSpec(ID)
const SHARD = 'mobilenet_group3-shard1of1'

/** How the test server misbehaves for one file. */
type Fault = 'cut' | 'short' | 'html'

// A mirror of ../shared/models on loopback, with faults switched on per test.
const faults = new Map<string, Fault>()
const requests: string[] = []
let server: http.Server
let base: string

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url!, 'http://x').pathname).slice(1)
    requests.push(rel)
    const file = path.join(MODELS, rel)
    if (!file.startsWith(MODELS) || !fs.existsSync(file)) return void res.writeHead(404).end('not found')
    const body = fs.readFileSync(file)
    const fault = faults.get(path.basename(rel))
    if (fault === 'html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login required</html>')
    if (fault === 'short') return void res.writeHead(200, { 'content-length': body.length - 10 }).end(body.subarray(0, body.length - 10))
    res.writeHead(200, { 'content-length': body.length })
    if (fault === 'cut') {
      // Promise every byte, send half, then drop the connection: an interrupted download.
      res.write(body.subarray(0, body.length >> 1), () => res.destroy())
      return
    }
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
})

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

function leftovers(home: string): string[] {
  const dir = path.join(home, 'weights')
  return fs.existsSync(dir) ? fs.readdirSync(dir) : []
}

describe('weights download and cache', () => {
  it('picks the official URL, a mirror URL or a local folder', () => {
    expect(modelJsonUrl(spec, '')).toBe('https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/model.json')
    expect(modelJsonUrl(spec, 'http://mirror.local/models')).toBe('http://mirror.local/models/mobilenet_v1_0.25_224/model.json')
    expect(modelJsonUrl(spec, '/srv/models')).toBe('file:///srv/models/mobilenet_v1_0.25_224/model.json')
  })

  it('downloads with progress, checks, caches, and does not download again', async () => {
    faults.clear()
    const home = tempDir()
    const progress: DownloadProgress[] = []
    const dir = await ensureWeights(spec, { home, mirror: base, onProgress: (p) => progress.push(p) })
    expect(dir).toBe(cacheDir(spec, home))
    expect(fs.existsSync(path.join(dir, CACHE_MANIFEST))).toBe(true)
    const last = progress.at(-1)!
    expect(last.totalBytes).toBe(spec.downloadBytes + fs.statSync(path.join(MODELS, ID, 'model.json')).size)
    expect(last.bytes).toBe(last.totalBytes)
    expect(progress.map((p) => p.bytes)).toEqual([...progress.map((p) => p.bytes)].sort((a, b) => a - b))

    const { weightData } = await readVerified(dir)
    expect(weightData.byteLength).toBe(spec.downloadBytes)

    const before = requests.length
    await ensureWeights(spec, { home, mirror: base })
    expect(requests.length).toBe(before)
  })

  it('never keeps an interrupted download, and a later attempt succeeds', async () => {
    const home = tempDir()
    faults.set(SHARD, 'cut')
    const error = await ensureWeights(spec, { home, mirror: base }).catch((e: Error) => e)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(
      new RegExp(`^Could not get the weights of ${ID} from ${base}${ID}/model.json: the transfer of ${base}${ID}/${SHARD} (broke off|was interrupted)`)
    )
    expect((error as Error).message).toContain('set TRANSFER_STUDIO_WEIGHTS=<folder>')
    expect(leftovers(home)).toEqual([])

    faults.clear()
    await ensureWeights(spec, { home, mirror: base })
    expect(leftovers(home)).toEqual([ID])
  })

  it('refuses weight files whose size does not match model.json', async () => {
    const home = tempDir()
    faults.set(SHARD, 'short')
    await expect(ensureWeights(spec, { home, mirror: base })).rejects.toThrow(
      /mobilenet_group3-shard1of1 from .* hold \d+ bytes but model\.json describes \d+: the files are damaged or do not belong to this model/
    )
    expect(leftovers(home)).toEqual([])
    faults.clear()
  })

  it('refuses an error page served as model.json', async () => {
    const home = tempDir()
    faults.set('model.json', 'html')
    await expect(ensureWeights(spec, { home, mirror: base })).rejects.toThrow(`${base}${ID}/model.json is not valid JSON`)
    faults.clear()
  })

  it('names the URL that failed when offline and nothing is cached', async () => {
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const home = tempDir()
    await expect(ensureWeights(spec, { home, mirror: `http://127.0.0.1:${port}/` })).rejects.toThrow(
      `Could not get the weights of ${ID} from http://127.0.0.1:${port}/${ID}/model.json: network error ECONNREFUSED. ` +
        `Without internet access, put model.json and its weight files in <folder>/${ID}/ and set TRANSFER_STUDIO_WEIGHTS=<folder>.`
    )
    expect(leftovers(home)).toEqual([])
  })

  it('refuses a model.json whose weight paths climb out of the cache', async () => {
    const evil = tempDir()
    fs.mkdirSync(path.join(evil, ID))
    const json = JSON.parse(fs.readFileSync(path.join(MODELS, ID, 'model.json'), 'utf8'))
    json.weightsManifest[0].paths = ['../../escape.bin']
    fs.writeFileSync(path.join(evil, ID, 'model.json'), JSON.stringify(json))
    await expect(ensureWeights(spec, { home: tempDir(), mirror: evil })).rejects.toThrow(
      'names the weight file "../../escape.bin", which is not a plain file name'
    )
  })

  it('notices a cached file damaged after download, and downloads it again', async () => {
    faults.clear()
    const home = tempDir()
    const dir = await ensureWeights(spec, { home, mirror: base })
    const shard = path.join(dir, SHARD)
    const bytes = fs.readFileSync(shard)
    bytes[100] ^= 0xff
    fs.writeFileSync(shard, bytes)
    await expect(readVerified(dir)).rejects.toThrow(`${shard} does not match the file that was downloaded (checksum differs)`)

    const notices: string[] = []
    const { model } = await loadBackbone(ID, { home, mirror: base, onNotice: (m) => notices.push(m) })
    expect(notices).toEqual([`${shard} does not match the file that was downloaded (checksum differs): downloading ${ID} again`])
    expect(model.layers.map((l) => l.name)).toContain('conv_pw_13_relu')
    model.dispose()
    await readVerified(dir)
  })
})
