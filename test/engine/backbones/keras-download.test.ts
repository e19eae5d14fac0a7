// Official Keras weights files through the weights mirror: progress, size and MD5 checked before
// use, a broken transfer resumed where it stopped, converted once into the cache. A loopback
// server plays the mirror, serving a Keras-layout MobileNetV2 file written by the tests.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureKerasWeights, kerasCacheDir } from '../../../src/engine/backbones/keras-cache'
import { downloadKerasFile, downloadsDir, kerasFileUrl } from '../../../src/engine/backbones/keras-download'
import { loadBackboneSpec } from '../../../src/engine/backbones/load'
import { backboneSpec, type BackboneSpec, type KerasWeightsFile } from '../../../src/engine/backbones/registry'
import { CACHE_MANIFEST } from '../../../src/engine/backbones/weights'
import { initBackend } from '../../../src/engine/backend'
import type { DownloadProgress } from '../../../src/shared/protocol'
import { tempDir } from '../../helpers'
import { sharedFixture } from './keras-h5-fixture'

const official = backboneSpec('mobilenet_v2_1.0_224')
let body: Buffer
let spec: BackboneSpec
let file: KerasWeightsFile
let server: http.Server
let base: string
/** Bytes sent before the connection is dropped, for the next request only. */
let cutAfter: number | null = null
const requests: Array<{ url: string; range: string | undefined }> = []

beforeAll(async () => {
  await initBackend()
  const fixture = await sharedFixture('mobilenet_v2_1_0_224', false)
  body = fs.readFileSync(fixture.file)
  file = { path: official.keras!.notop.path, bytes: body.length, md5: createHash('md5').update(body).digest('hex') }
  spec = { ...official, keras: { ...official.keras!, notop: file } }
  server = http.createServer((req, res) => {
    requests.push({ url: req.url!, range: req.headers.range })
    if (req.url !== `/${file.path}`) return void res.writeHead(404).end('not found')
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    const start = range ? Number(range[1]) : 0
    const rest = body.subarray(start)
    res.writeHead(range ? 206 : 200, {
      'content-length': rest.length,
      ...(range ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {})
    })
    if (cutAfter !== null) {
      const cut = cutAfter
      cutAfter = null
      res.write(rest.subarray(0, cut), () => res.destroy())
      return
    }
    res.end(rest)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
})

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

describe('Keras weights download', () => {
  it('takes the official URL, or the same path under a mirror URL or folder', () => {
    expect(kerasFileUrl(official.keras!.notop, '')).toBe(
      'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5'
    )
    expect(kerasFileUrl(official.keras!.notop, 'http://mirror.local/keras')).toBe(
      'http://mirror.local/keras/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5'
    )
    expect(kerasFileUrl(official.keras!.notop, '/srv/weights')).toBe(
      'file:///srv/weights/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5'
    )
  })

  it('downloads with progress, checks, converts once into the cache, and keeps no .h5', async () => {
    const home = tempDir()
    const progress: DownloadProgress[] = []
    const dir = await ensureKerasWeights(spec, false, { home, mirror: base, onProgress: (p) => progress.push(p) })
    expect(dir).toBe(kerasCacheDir(spec, false, home))
    expect(fs.readdirSync(dir).sort()).toEqual([CACHE_MANIFEST, 'model.json', 'weights.bin'])
    // float32 weights: 4 bytes per parameter of include_top=False.
    expect(fs.statSync(path.join(dir, 'weights.bin')).size).toBe(spec.featureParameters! * 4)
    expect(progress.at(-1)).toMatchObject({ backbone: spec.id, bytes: body.length, totalBytes: body.length })
    expect(fs.readdirSync(downloadsDir(home))).toEqual([])

    const before = requests.length
    const { model } = await loadBackboneSpec(spec, { home, mirror: base })
    expect(requests.length).toBe(before)
    expect(model.countParams()).toBe(2_257_984)
    expect(model.layers.at(-1)!.name).toBe('out_relu')
    model.dispose()
  })

  it('continues a broken transfer from where it stopped', async () => {
    const home = tempDir()
    cutAfter = 3_000_000
    const error = await downloadKerasFile(spec, file, { home, mirror: base }).catch((e: Error) => e)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(new RegExp(`^The transfer of ${base}${file.path} (broke off after|was interrupted at) \\d+`))
    const part = path.join(downloadsDir(home), `${path.basename(file.path)}.part`)
    const kept = fs.statSync(part).size
    expect(kept).toBeGreaterThan(0)
    expect(kept).toBeLessThan(body.length)

    const h5 = await downloadKerasFile(spec, file, { home, mirror: base })
    expect(requests.at(-1)!.range).toBe(`bytes=${kept}-`)
    expect(fs.readFileSync(h5).equals(body)).toBe(true)
    expect(fs.existsSync(part)).toBe(false)
  })

  it('refuses and removes a file whose MD5 differs', async () => {
    const home = tempDir()
    const wrong = { ...file, md5: '0123456789abcdef0123456789abcdef' }
    await expect(ensureKerasWeights({ ...spec, keras: { ...spec.keras!, notop: wrong } }, false, { home, mirror: base })).rejects.toThrow(
      `${base}${file.path} has MD5 ${file.md5} but ${path.basename(file.path)} has 0123456789abcdef0123456789abcdef: the download was refused and removed`
    )
    expect(fs.readdirSync(downloadsDir(home))).toEqual([])
    expect(fs.existsSync(kerasCacheDir(spec, false, home))).toBe(false)
  })

  it('refuses a file of the wrong size', async () => {
    const home = tempDir()
    const wrong = { ...file, bytes: file.bytes! + 1 }
    await expect(downloadKerasFile(spec, wrong, { home, mirror: base })).rejects.toThrow(
      `${base}${file.path} gave ${body.length} bytes but ${path.basename(file.path)} has ${body.length + 1}: the download was refused and removed`
    )
  })

  it('names the URL and the mirror setting when the file cannot be had', async () => {
    const home = tempDir()
    const missing = { ...file, path: 'nowhere/missing.h5' }
    await expect(downloadKerasFile(spec, missing, { home, mirror: base })).rejects.toThrow(
      `Could not get the weights of ${spec.id} from ${base}nowhere/missing.h5: the server answered HTTP 404 Not Found. ` +
        'Without internet access, put nowhere/missing.h5 under a folder and set TRANSFER_STUDIO_WEIGHTS=<folder>.'
    )
  })
})
