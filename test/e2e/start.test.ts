/// <reference lib="dom" />
// The first screen in Debian's Chromium, as a new user meets it: the folder browser opens
// ../shared/data/hymenoptera, the sample dataset downloads (from a throttled local mirror) with
// bytes, speed and time left and opens, recent datasets list both, and the page loads with no
// failed request (the favicon included); CIFAR-10 records show as thumbnails. Screenshots at
// 1024x700 and 1920x1080.
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../../src/server/serve'
import { DATA, ROOT, tempDir } from '../helpers'
import { SAMPLE_ZIP_PATH, sampleMirror } from '../sample-zip'
import { launchChromium, screenshot, watch } from './harness'

const SIZES = [
  { width: 1024, height: 700 },
  { width: 1920, height: 1080 }
]
let server: RunningServer
let mirror: http.Server
let browser: Browser
let page: Page
let problems: string[] = []

beforeAll(async () => {
  if (!fs.existsSync(path.join(ROOT, 'out', 'renderer', 'index.html'))) throw new Error('The built renderer is missing: run `npx electron-vite build` first')
  const zip = fs.readFileSync(path.join(sampleMirror(), SAMPLE_ZIP_PATH))
  // The weights mirror as a web server that sends 1 MiB every 80 ms: slow enough to watch.
  mirror = http.createServer((req, res) => {
    if (req.url !== `/${SAMPLE_ZIP_PATH}`) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-length': zip.length, 'content-type': 'application/zip' })
    let at = 0
    const next = (): void => {
      if (res.destroyed) return
      if (at >= zip.length) return void res.end()
      res.write(zip.subarray(at, at + 1024 * 1024))
      at += 1024 * 1024
      setTimeout(next, 80)
    }
    next()
  })
  await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve))
  process.env.TRANSFER_STUDIO_WEIGHTS = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/`
  const userHome = tempDir('ts-start-home-')
  fs.mkdirSync(path.join(userHome, 'Pictures'))
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    rendererDir: path.join(ROOT, 'out', 'renderer'),
    engine: { entry: path.join(ROOT, 'src', 'engine', 'process.ts'), execArgv: ['--import', 'tsx'] },
    home: tempDir('ts-start-studio-'),
    userHome,
    browse: [DATA]
  })
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
  await new Promise<void>((resolve) => (mirror ? mirror.close(() => resolve()) : resolve()))
})

async function openPage(size = SIZES[0]): Promise<void> {
  page = await browser.newPage({ viewport: size })
  problems = watch(page)
  await page.goto(server.url)
}

/**
 * The start panels (folder browser, recent datasets, sample). The host keeps the open dataset for
 * every window, so a page opened after another test opened one shows that dataset, with the
 * panels one click ("Browse…") away.
 */
async function showStartPanels(): Promise<void> {
  await expect
    .poll(
      async () => {
        if (await page.getByTestId('browse-path').isVisible()) return true
        const toggle = page.getByTestId('show-start')
        if ((await toggle.isVisible()) && (await toggle.innerText()).includes('Browse')) await toggle.click()
        return false
      },
      { timeout: 30_000 }
    )
    .toBe(true)
}

afterEach(async () => {
  const seen = [...problems]
  await page?.close()
  expect(seen).toEqual([])
})

const shot = (name: string, size: { width: number; height: number }) => screenshot(page, `start-${name}-${size.width}x${size.height}`, false)

/** Thumbnails that actually decoded, so a broken image cannot pass for one. */
const decodedThumbnails = () => page.locator('img.thumb').evaluateAll((imgs) => imgs.filter((i) => (i as HTMLImageElement).naturalWidth > 0).length)

describe('the first screen', () => {
  it('loads its icon: /favicon.ico is the application icon, not a 404', async () => {
    await openPage()
    const icon = await page.evaluate(async () => {
      const link = document.querySelector('link[rel="icon"]') as HTMLLinkElement
      const response = await fetch(link.href)
      return { status: response.status, bytes: (await response.arrayBuffer()).byteLength, href: new URL(link.href).pathname }
    })
    expect(icon).toEqual({ status: 200, bytes: fs.statSync(path.join(ROOT, 'resources', 'icon.ico')).size, href: '/favicon.ico' })
    // The browser's own request for it (it asks by itself) succeeded too: afterEach fails on any 4xx.
  })

  it('browses to ../shared/data/hymenoptera and opens it', async () => {
    for (const size of SIZES) {
      await openPage(size)
      await showStartPanels()
      const browserPanel = page.getByTestId('folder-browser')
      await expect.poll(() => page.getByTestId('browse-path').innerText(), { timeout: 30_000 }).toMatch(/ts-start-home-/)
      expect(await browserPanel.innerText()).toMatch(/Pictures\s+0 images/)
      await shot('1-first-screen', size)
      await browserPanel.getByRole('button', { name: 'data', exact: true }).click()
      await expect.poll(() => page.getByTestId('browse-path').innerText(), { timeout: 30_000 }).toBe(fs.realpathSync(DATA))
      const row = page.getByTestId('folder-hymenoptera')
      expect(await row.innerText()).toMatch(/hymenoptera\s+398 images\s+Open/)
      // Into it and back up, as a person finding their way would.
      await row.getByRole('button', { name: /hymenoptera/ }).click()
      await expect.poll(() => page.getByTestId('browse-path').innerText(), { timeout: 30_000 }).toBe(fs.realpathSync(path.join(DATA, 'hymenoptera')))
      expect(await page.getByTestId('folder-browser').innerText()).toMatch(/train\s+2\d\d images/)
      await shot('2-browsing-hymenoptera', size)
      await page.getByTestId('browse-open-here').click()
      await page.getByTestId('class-table').waitFor({ timeout: 120_000 })
      expect(await page.getByTestId('class-table').innerText()).toMatch(/ants\s+\d+\s+\d+/)
      expect(await page.getByTestId('dataset-path').inputValue()).toBe(fs.realpathSync(path.join(DATA, 'hymenoptera')))
      await expect.poll(decodedThumbnails, { timeout: 60_000 }).toBeGreaterThan(3)
      await shot('3-hymenoptera-open', size)
      await page.close()
      expect(problems).toEqual([])
    }
    await openPage()
  })

  it('shows real thumbnails of a CIFAR-10 binary dataset (records of its batch files)', async () => {
    await openPage(SIZES[0])
    await page.getByTestId('dataset-path').fill(path.join(DATA, 'cifar10-bin-subset'))
    await page.getByTestId('dataset-open').click()
    // The table of the dataset this page opened, not of the one the session had open before.
    await expect
      .poll(
        () =>
          page
            .getByTestId('class-table')
            .innerText()
            .catch(() => ''),
        { timeout: 120_000 }
      )
      .toMatch(/airplane/)
    await page.locator('img.thumb').first().waitFor({ timeout: 30_000 })
    // Once the grid has swapped the earlier dataset's photos for this one's records.
    await expect.poll(() => page.locator('img.thumb').first().getAttribute('src'), { timeout: 30_000 }).toMatch(/data_batch_1\.bin%23\d+/)
    await expect.poll(decodedThumbnails, { timeout: 60_000 }).toBeGreaterThan(10)
    await shot('7-cifar-thumbnails', SIZES[0])
  })

  it('downloads the sample dataset with progress, opens it, and lists it among recent datasets', async () => {
    await openPage(SIZES[1])
    await showStartPanels()
    await page.getByTestId('sample-download').click()
    const line = page.getByTestId('download-line')
    // Bytes of the whole, speed and time left, while it arrives.
    await expect
      .poll(() => line.innerText().catch(() => ''), { timeout: 60_000 })
      .toMatch(/^Downloading the sample dataset \(ants and bees\): \d+\.\d MB of \d+\.\d MB · \d+\.\d MB\/s · \d+ s left$/)
    await shot('4-sample-downloading', SIZES[1])
    const seen = await line.innerText()
    await expect.poll(() => page.getByTestId('dataset-path').inputValue(), { timeout: 120_000 }).toMatch(/ts-start-studio-.*\/samples\/hymenoptera_data$/)
    await page.getByTestId('class-table').waitFor({ timeout: 120_000 })
    await expect.poll(() => page.getByTestId('class-table').innerText(), { timeout: 120_000 }).toMatch(/ants\s+\d+\s+\d+[\s\S]*bees/)
    await expect.poll(decodedThumbnails, { timeout: 60_000 }).toBeGreaterThan(3)
    await shot('5-sample-open', SIZES[1])
    expect(seen).toMatch(/MB\/s/)

    // A new page (or a reload) offers every dataset opened so far again, newest first.
    for (const size of SIZES) {
      await page.close()
      expect(problems).toEqual([])
      await openPage(size)
      await showStartPanels()
      const recents = page.getByTestId('recent-datasets')
      await expect.poll(() => recents.locator('li').count(), { timeout: 30_000 }).toBe(3)
      expect(await recents.innerText()).toMatch(
        /hymenoptera_data\s+2 classes · \d{3} images[\s\S]*cifar10-bin-subset\s+10 classes · [\d,]+ images[\s\S]*hymenoptera\s+2 classes · \d{3} images/
      )
      await shot('6-recent-datasets', size)
    }
    await page.getByTestId('recent-hymenoptera').click()
    await expect.poll(() => page.getByTestId('dataset-path').inputValue(), { timeout: 120_000 }).toBe(fs.realpathSync(path.join(DATA, 'hymenoptera')))
    // Already there: a second try opens it without downloading again.
    // Opened: the start panels made way for it, one click away.
    await expect.poll(() => page.getByTestId('show-start').innerText(), { timeout: 60_000 }).toContain('Browse')
    await page.getByTestId('show-start').click()
    await page.getByTestId('sample-download').click()
    await expect.poll(() => page.getByTestId('dataset-path').inputValue(), { timeout: 60_000 }).toMatch(/samples\/hymenoptera_data$/)
  })
})
