/// <reference lib="dom" />
// The whole app in Debian's Chromium against the headless server, as a person would use it:
// open a dataset, freeze layers, train, read the evaluation, drop a photo.
import fs from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../../src/server/serve'
import { DATA, PHOTOS, ROOT, startTestServer } from '../helpers'

const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots')
let server: RunningServer
let browser: Browser
let page: Page
const pageErrors: string[] = []

beforeAll(async () => {
  if (!fs.existsSync(path.join(ROOT, 'out', 'renderer', 'index.html'))) {
    throw new Error('The built renderer is missing: run `npm run build` first (`npm test` does)')
  }
  server = await startTestServer()
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  })
  page = await browser.newPage({ viewport: { width: 1400, height: 950 } })
  page.on('pageerror', (error) => pageErrors.push(error.message))
  fs.mkdirSync(SCREENSHOTS, { recursive: true })
  await page.goto(server.url)
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true })

async function drop(file: string): Promise<void> {
  const data = fs.readFileSync(file).toString('base64')
  const transfer = await page.evaluateHandle(
    ({ name, data }) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0))
      const dt = new DataTransfer()
      dt.items.add(new File([bytes], name, { type: 'image/png' }))
      return dt
    },
    { name: path.basename(file), data }
  )
  await page.dispatchEvent('.shell', 'drop', { dataTransfer: transfer })
}

describe('Transfer Studio in a browser', () => {
  it('shows the compute backend', async () => {
    await expect.poll(() => page.getByTestId('backend').innerText(), { timeout: 30_000 }).toMatch(/inference/)
    expect(await page.getByTestId('backend').innerText()).toMatch(/frozen layers: onnxruntime-node \d/)
  })

  it('opens a dataset: classes, counts, thumbnails', async () => {
    await page.getByTestId('dataset-path').fill(path.join(DATA, 'mini', 'weather'))
    await page.getByTestId('dataset-open').click()
    const table = page.getByTestId('class-table')
    await table.waitFor({ timeout: 30_000 })
    expect(await table.innerText()).toMatch(/cloudy\s+15\s+5/)
    await page.locator('img.thumb').first().waitFor()
    await expect.poll(() => page.locator('img.thumb').evaluateAll((imgs) => imgs.filter((i) => (i as HTMLImageElement).naturalWidth > 0).length), { timeout: 30_000 }).toBeGreaterThan(5)
    await shot('1-dataset')
  })

  it('shows the layer tree; block toggles, mixed state and freeze-up-to change the totals', async () => {
    await page.getByTestId('nav-model').click()
    await page.getByTestId('layer-tree').waitFor({ timeout: 60_000 })
    const trainable = () => page.getByTestId('trainable-params').innerText().then((t) => Number(t.replace(/,/g, '')))
    // Frozen backbone: only the head (256 x 4 + 4) trains.
    await expect.poll(trainable).toBe(1028)
    const block = page.getByRole('row', { name: /block_13/ })
    await block.getByRole('checkbox').click()
    await expect.poll(trainable).toBeGreaterThan(1028)
    await block.getByRole('button').first().click() // expand
    await page.getByTestId('freeze-up-to-conv_dw_13_relu').click()
    // Now only conv_pw_13 (256 x 256 kernel) and its BatchNormalization's gamma/beta train, plus the head.
    await expect.poll(trainable).toBe(1028 + 256 * 256 + 2 * 256)
    // block_13 now trains only partly: its box shows the mixed state.
    expect(await block.locator('[data-pc-name="pcnodecheckbox"]').getAttribute('data-p-partialchecked')).toBe('true')
    await shot('2-model')
    await page.getByTestId('freeze-up-to-conv_pw_13_relu').click()
    await expect.poll(trainable).toBe(1028)
  })

  it('trains two epochs with live charts, and shows the confusion matrix', async () => {
    await page.getByTestId('nav-train').click()
    await page.getByTestId('epochs').fill('2')
    await page.getByTestId('train-start').click()
    await page.getByTestId('train-outcome').waitFor({ timeout: 120_000 })
    expect(await page.getByTestId('train-path').innerText()).toBe('cached-features')
    expect(await page.getByTestId('epoch-table').locator('tbody tr').count()).toBe(2)
    // The charts drew something: their canvases are no longer blank.
    const inked = await page.getByTestId('chart-loss').locator('canvas').evaluate((canvas: HTMLCanvasElement) => {
      const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
      let coloured = 0
      for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3] > 0 && pixels[i + 2] > pixels[i] + 40) coloured++
      return coloured
    })
    expect(inked).toBeGreaterThan(100)
    await shot('3-train')

    await page.getByTestId('nav-evaluate').click()
    const confusion = page.getByTestId('confusion')
    await confusion.waitFor()
    const cells = await confusion.locator('td').allInnerTexts()
    expect(cells).toHaveLength(16)
    expect(cells.map(Number).reduce((a, b) => a + b, 0)).toBe(20)
    // The gallery shows the misclassified photos themselves (thumbnails from the host).
    const gallery = page.getByTestId('misclassified').locator('img')
    const wrong = 20 - cells.filter((_, i) => i % 5 === 0).map(Number).reduce((a, b) => a + b, 0)
    await expect.poll(() => gallery.count()).toBe(wrong)
    await expect
      .poll(() => gallery.evaluateAll((imgs) => imgs.filter((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0).length), { timeout: 30_000 })
      .toBe(wrong)
    await shot('4-evaluate')
  })

  it('classifies a photo dropped on the window, with the trained model and with ImageNet', async () => {
    await drop(path.join(PHOTOS, 'chelsea.png'))
    const card = page.getByTestId('predictions').locator('.card').first()
    await expect.poll(() => card.locator('.prediction').count(), { timeout: 60_000 }).toBe(4)
    expect(await card.locator('.label').first().innerText()).toMatch(/^(cloudy|rain|shine|sunrise)$/)

    await page.getByTestId('predict-with').selectOption({ index: 0 })
    await drop(path.join(PHOTOS, 'chelsea.png'))
    const imagenet = page.getByTestId('predictions').locator('.card').first()
    await expect.poll(() => imagenet.locator('.prediction').count(), { timeout: 60_000 }).toBe(5)
    expect(['tabby', 'tiger cat', 'Egyptian cat']).toContain(await imagenet.locator('.label').first().innerText())
    await shot('5-predict')
  })

  it('lists the run with its metrics', async () => {
    await page.getByTestId('nav-runs').click()
    await expect.poll(() => page.getByTestId('runs').locator('tbody tr').count(), { timeout: 10_000 }).toBe(1)
    expect(await page.getByTestId('runs').innerText()).toContain('mobilenet_v1_0.25_224')
    await shot('6-runs')
    expect(pageErrors).toEqual([])
  })
})
