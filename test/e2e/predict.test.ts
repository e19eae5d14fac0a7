/// <reference lib="dom" />
// The Predict view in Debian's Chromium against the headless server: two trained models whose
// results each name their model, Clear, the chosen model remembered after a reload, top-k bars,
// the "unsure" mark on a photo unlike the training photos, a camera frame (Chromium's fake
// camera), and a whole folder classified with its CSV downloaded.
import fs from 'node:fs'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { RunningServer } from '../../src/server/serve'
import { DATA, PHOTOS, startTestServer, tempDir } from '../helpers'
import { ask, connect, dropFile, launchChromium, screenshot, watch } from './harness'

const ANTS_BEES = path.join(DATA, 'mini', 'hymenoptera')
const WEATHER = path.join(DATA, 'mini', 'weather')
let server: RunningServer
let browser: Browser
let page: Page
let problems: string[] = []
/** Two runs trained through the API: ants vs bees (5 epochs) and the four weathers (1 epoch). */
let antsBees: { runDir: string; modelDir: string }
let weather: { runDir: string; modelDir: string }
const runName = (run: { runDir: string }) => path.basename(run.runDir)

beforeAll(async () => {
  server = await startTestServer()
  // A camera that needs no hardware and no permission prompt: a moving test pattern.
  browser = await launchChromium(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'])
  const ws = await connect(server)
  try {
    await ask(ws, { command: 'scan', dir: ANTS_BEES })
    antsBees = (await ask(ws, {
      command: 'train',
      config: { data: ANTS_BEES, backbone: 'mobilenet_v1_0.25_224', epochs: 5, batchSize: 8, seed: 1 }
    })) as typeof antsBees
    await ask(ws, { command: 'scan', dir: WEATHER })
    weather = (await ask(ws, { command: 'train', config: { data: WEATHER, backbone: 'mobilenet_v1_0.25_224', epochs: 1 } })) as typeof weather
  } finally {
    ws.close()
  }
}, 400_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

beforeEach(async () => {
  page = await browser.newPage({ viewport: { width: 1400, height: 950 }, acceptDownloads: true })
  problems = watch(page)
  await page.goto(server.url)
  await page.evaluate(() => localStorage.clear())
})

afterEach(async () => {
  const seen = [...problems]
  await page.close()
  expect(seen).toEqual([])
})

const shot = (name: string) => screenshot(page, name)

const drop = (file: string): Promise<void> => dropFile(page, file)

async function openPredict(): Promise<void> {
  await page.getByTestId('nav-predict').click()
  // Every run's model is offered once the view has asked the host for the runs.
  await expect.poll(() => page.getByTestId('predict-with').locator('option').count(), { timeout: 30_000 }).toBe(3)
}

const cards = () => page.getByTestId('predictions').getByTestId('prediction')
const selectedText = () => page.getByTestId('predict-with').evaluate((s: HTMLSelectElement) => s.selectedOptions[0]?.text.trim() ?? '')

/** Waits until the newest card has its bars (or an error) and returns it. */
async function newestCard(count: number) {
  await expect.poll(() => cards().count(), { timeout: 30_000 }).toBe(count)
  const card = cards().first()
  await expect.poll(() => card.getByTestId('topk-bar').count(), { timeout: 90_000 }).toBeGreaterThan(0)
  return card
}

describe('Predict view', () => {
  it('names each result by the model that made it, lists models by run name, and Clear empties the list', async () => {
    await openPredict()
    const options = await page.getByTestId('predict-with').locator('option').allInnerTexts()
    expect(options.map((o) => o.trim()).sort()).toEqual(['ImageNet (mobilenet_v1_0.25_224)', runName(antsBees), runName(weather)].sort())
    // No option shows a path.
    for (const option of options) expect(option).not.toContain('/')

    await page.getByTestId('predict-with').selectOption(antsBees.modelDir)
    await drop(path.join(PHOTOS, 'rocket.jpg'))
    const first = await newestCard(1)
    expect(await first.getByTestId('prediction-model').innerText()).toBe(`by ${runName(antsBees)}`)
    // Top-k bars: both classes of a two-class model, best first.
    expect(await first.getByTestId('topk-bar').count()).toBe(2)

    await page.getByTestId('predict-with').selectOption(weather.modelDir)
    await drop(path.join(PHOTOS, 'rocket.jpg'))
    const second = await newestCard(2)
    expect(await second.getByTestId('prediction-model').innerText()).toBe(`by ${runName(weather)}`)
    expect(await second.getByTestId('topk-bar').count()).toBe(4)
    const probabilities = (await second.locator('.value').allInnerTexts()).map((v) => Number(v.replace('%', '')))
    expect([...probabilities].sort((a, b) => b - a)).toEqual(probabilities)
    // The earlier card still names its own model.
    expect(await cards().nth(1).getByTestId('prediction-model').innerText()).toBe(`by ${runName(antsBees)}`)

    await page.getByTestId('predict-with').selectOption('')
    await drop(path.join(PHOTOS, 'rocket.jpg'))
    const third = await newestCard(3)
    expect(await third.getByTestId('prediction-model').innerText()).toBe('by ImageNet (mobilenet_v1_0.25_224)')
    expect(await third.getByTestId('topk-bar').count()).toBe(5)
    await shot('predict-1-two-models')

    await page.getByTestId('predict-clear').click()
    await expect.poll(() => cards().count()).toBe(0)
  })

  it('remembers the chosen model after a reload', async () => {
    await openPredict()
    await page.getByTestId('predict-with').selectOption(weather.modelDir)
    await page.reload()
    await openPredict()
    expect(await page.getByTestId('predict-with').inputValue()).toBe(weather.modelDir)
    expect(await selectedText()).toBe(runName(weather))
  })

  it('marks a cat given to the ants-vs-bees model unsure, as unlike the training photos, and says why', async () => {
    await openPredict()
    await page.getByTestId('predict-with').selectOption(antsBees.modelDir)
    await drop(path.join(PHOTOS, 'chelsea.png'))
    const card = await newestCard(1)
    const mark = card.getByTestId('unsure')
    expect(await mark.getAttribute('data-reason')).toBe('unlike-training')
    expect(await mark.innerText()).toBe('Unsure: unlike the training photos (farther from every class than 99 % of its own training photos)')
    expect(await page.getByTestId('unsure-explained').innerText()).toMatch(/under 60 %.*unlike every training photo/)
    for (const [width, height] of [
      [1024, 700],
      [1920, 1080]
    ]) {
      await page.setViewportSize({ width, height })
      await shot(`predict-2-unsure-${width}x${height}`)
    }
  })

  it('classifies a frame from the camera', async () => {
    await openPredict()
    await page.getByTestId('predict-camera').click()
    await page.getByTestId('webcam-start').click()
    await expect.poll(() => page.locator('[data-testid=webcam] video').evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout: 30_000 }).toBeGreaterThan(0)
    await shot('predict-3-camera')
    await page.getByTestId('webcam-capture').click()
    const card = await newestCard(1)
    expect(await card.locator('strong').innerText()).toMatch(/^webcam-.*\.jpg$/)
    expect(await card.getByTestId('prediction-model').innerText()).toBe('by ImageNet (mobilenet_v1_0.25_224)')
    expect(await card.getByTestId('topk-bar').count()).toBe(5)
  })

  it('classifies every photo of a folder and downloads the results as CSV', async () => {
    const folder = tempDir()
    for (const name of fs.readdirSync(PHOTOS)) fs.copyFileSync(path.join(PHOTOS, name), path.join(folder, name))
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'not a photo')
    const photos = fs.readdirSync(PHOTOS).sort()
    await openPredict()
    await page.getByTestId('predict-with').selectOption(antsBees.modelDir)
    await page.getByTestId('predict-folder-path').fill(folder)
    await page.getByTestId('predict-folder').click()
    await expect
      .poll(
        () =>
          page
            .getByTestId('folder-progress')
            .innerText()
            .catch(() => ''),
        { timeout: 90_000 }
      )
      .toBe(`${fs.realpathSync(folder)}: ${photos.length} of ${photos.length} photos classified (1 other file skipped)`)
    expect(await cards().count()).toBe(photos.length)
    // Previews come from the host's thumbnails of the opened folder.
    await expect
      .poll(
        () =>
          cards()
            .locator('img')
            .evaluateAll((imgs) => imgs.filter((i) => (i as HTMLImageElement).naturalWidth > 0).length),
        { timeout: 30_000 }
      )
      .toBe(photos.length)
    await shot('predict-4-folder')

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('predict-csv').click()])
    expect(download.suggestedFilename()).toBe('predictions.csv')
    const csv = fs
      .readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\r\n')
    expect(csv[0]).toBe('file,label,probability,unsure,model')
    expect(csv.slice(1).map((line) => path.basename(line.split(',')[0]))).toEqual(photos)
    for (const line of csv.slice(1)) {
      const [, label, probability, , model] = line.split(',')
      expect(['ants', 'bees']).toContain(label)
      expect(Number(probability)).toBeGreaterThanOrEqual(0.5)
      expect(model).toBe(runName(antsBees))
    }
    expect(csv.find((line) => line.includes('chelsea.png'))!.split(',')[3]).toBe('unlike-training')
  })
})
