/// <reference lib="dom" />
// The session belongs to the host, not the page: a reload in the middle of a training, or a second
// window, continues it (charts, Stop); the model screen's choices come back with their dataset;
// and the Runs view renames, deletes (after asking), compares and exports runs.
import fs from 'node:fs'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../../src/server/serve'
import { DATA, startTestServer } from '../helpers'
import { ask, connect, launchChromium, openDataset, screenshot, watch } from './harness'

const WEATHER = path.join(DATA, 'mini', 'weather')
const BEES = path.join(DATA, 'mini', 'hymenoptera')
let server: RunningServer
let browser: Browser
/** Every page a test opened, with the problems seen on it (uncaught errors, console errors, failed requests). */
let pages: Array<{ page: Page; problems: string[] }> = []
/** Two runs trained through the API for the Runs view: one epoch at lr 0.001, two at lr 0.01. */
const runs: Array<{ runDir: string; modelDir: string }> = []

beforeAll(async () => {
  server = await startTestServer()
  browser = await launchChromium()
  const ws = await connect(server)
  try {
    await ask(ws, { command: 'scan', dir: WEATHER })
    for (const [epochs, learningRate] of [
      [1, 0.001],
      [2, 0.01]
    ]) {
      runs.push(
        (await ask(ws, { command: 'train', config: { data: WEATHER, backbone: 'mobilenet_v1_0.25_224', epochs, learningRate } })) as (typeof runs)[number]
      )
    }
  } finally {
    ws.close()
  }
}, 300_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

afterEach(async () => {
  const seen = pages.flatMap((p) => p.problems)
  for (const { page } of pages) await page.close()
  pages = []
  expect(seen).toEqual([])
})

/** A new page on the app, watched for errors the way test/e2e/app.test.ts watches its pages. */
async function openPage(viewport = { width: 1400, height: 950 }): Promise<Page> {
  const page = await browser.newPage({ viewport })
  const problems = watch(page)
  pages.push({ page, problems })
  await page.goto(server.url)
  return page
}

const trainable = (page: Page) =>
  page
    .getByTestId('trainable-params')
    .innerText()
    .then((t) => Number(t.replace(/,/g, '')))

/** Coloured pixels on a chart's canvas: more than a few means it drew its lines. */
const ink = (page: Page, testId: string) =>
  page
    .getByTestId(testId)
    .locator('canvas')
    .first()
    .evaluate((canvas: HTMLCanvasElement) => {
      const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
      let coloured = 0
      for (let i = 0; i < pixels.length; i += 4)
        if (pixels[i + 3] > 0 && Math.max(pixels[i], pixels[i + 1], pixels[i + 2]) - Math.min(pixels[i], pixels[i + 1], pixels[i + 2]) > 40) coloured++
      return coloured
    })

const epochRows = (page: Page) => page.getByTestId('epoch-table').locator('tbody tr').count()
const shot = (page: Page, name: string) => screenshot(page, name)

describe('the session lives in the host', () => {
  it('a reload mid-training keeps the charts and Stop; a second window sees the same run; Stop works from either', async () => {
    const page = await openPage()
    try {
      await openDataset(page, WEATHER)
      await page.getByTestId('nav-model').click()
      await page.getByTestId('layer-tree').waitFor({ timeout: 60_000 })
      await page.getByTestId('nav-train').click()
      await page.getByTestId('epochs').fill('1000')
      await page.getByLabel('Batch size').fill('2')
      await page.getByTestId('train-start').click()
      await expect.poll(() => epochRows(page), { timeout: 120_000 }).toBeGreaterThanOrEqual(2)

      await page.reload()
      await page.getByTestId('nav-train').click()
      // Straight away, from the host's snapshot: the epochs so far, the charts, Stop.
      await expect.poll(() => epochRows(page), { timeout: 10_000 }).toBeGreaterThanOrEqual(2)
      expect(await page.getByTestId('train-stop').isEnabled()).toBe(true)
      expect(await page.getByTestId('train-start').isEnabled()).toBe(false)
      await expect.poll(() => ink(page, 'chart-loss'), { timeout: 10_000 }).toBeGreaterThan(100)
      expect(await page.locator('.lead').first().innerText()).toContain(WEATHER)
      // And it goes on: more epochs arrive live.
      const after = await epochRows(page)
      await expect.poll(() => epochRows(page), { timeout: 60_000 }).toBeGreaterThan(after)
      await shot(page, 'session-1-reloaded-mid-training')

      const second = await openPage({ width: 1024, height: 700 })
      await second.getByTestId('nav-train').click()
      await expect.poll(() => epochRows(second), { timeout: 10_000 }).toBeGreaterThanOrEqual(after)
      expect(await second.getByTestId('train-stop').isEnabled()).toBe(true)
      await expect.poll(() => ink(second, 'chart-accuracy'), { timeout: 10_000 }).toBeGreaterThan(100)
      await shot(second, 'session-2-second-window-1024x700')

      await second.getByTestId('train-stop').click()
      for (const p of [page, second]) {
        await p.getByTestId('train-outcome').waitFor({ timeout: 120_000 })
        expect(await p.getByTestId('train-outcome').innerText()).toContain('(stopped)')
        expect(await p.getByTestId('train-stop').isEnabled()).toBe(false)
      }
      // The stopped run is the one Resume names, in both windows.
      const runDir = (await page.getByTestId('train-outcome').locator('code').innerText()).replace(/[\\/]model$/, '')
      for (const p of [page, second]) expect(await p.getByTestId('train-resume').innerText()).toBe(`Resume ${path.basename(runDir)}`)
      // In the Runs view it is a stopped run that can be resumed.
      await second.getByTestId('nav-runs').click()
      const row = second.locator(`tr[data-run="${path.basename(runDir)}"]`)
      await expect.poll(() => row.getByTestId('run-status').innerText(), { timeout: 10_000 }).toBe('stopped')
      expect(await row.getByTestId('run-resume').count()).toBe(1)
    } finally {
      // Whatever failed above, no training is left running for the next test.
      const ws = await connect(server)
      await ask(ws, { command: 'stopTraining' }).finally(() => ws.close())
    }
  })

  it('reopening a dataset brings back its backbone, frozen layers, optimizer and augmentation', async () => {
    const page = await openPage()
    await openDataset(page, WEATHER)
    await page.getByTestId('nav-model').click()
    // The radio itself is hidden inside its card: the card is what a person clicks.
    await page.locator('label.card', { has: page.getByTestId('backbone-mobilenet_v1_0.75_224') }).click()
    // MobileNet v1 0.75's tree, whole backbone frozen: only its head (768 x 4 + 4) trains.
    await expect.poll(() => trainable(page), { timeout: 60_000 }).toBe(768 * 4 + 4)
    const block = page.getByRole('row', { name: /block_13/ })
    await block.getByRole('button').first().click() // expand
    const before = await trainable(page)
    await page.getByTestId('freeze-up-to-conv_dw_13_relu').click()
    // conv_pw_13 (768 x 768) and its BatchNormalization's gamma and beta train too.
    await expect.poll(() => trainable(page)).toBe(before + 768 * 768 + 2 * 768)
    const chosen = await trainable(page)
    await page.getByTestId('nav-train').click()
    await page.getByLabel('Optimizer').selectOption('sgd')
    await page.getByLabel('horizontal flip').check()
    await page.getByTestId('epochs').fill('3')
    await page.waitForTimeout(1000) // saved 300 ms after the last change

    // Another dataset starts from what is on screen, and keeps choices of its own.
    await page.getByTestId('nav-dataset').click()
    await openDataset(page, BEES)
    await page.getByTestId('nav-train').click()
    await expect.poll(() => page.getByLabel('Optimizer').inputValue(), { timeout: 30_000 }).toBe('sgd')
    await page.getByLabel('Optimizer').selectOption('rmsprop')
    await page.getByLabel('horizontal flip').uncheck()
    await page.waitForTimeout(1000)

    // Weather again, in a fresh window: everything as it was chosen.
    const again = await openPage()
    await openDataset(again, WEATHER)
    await again.getByTestId('nav-model').click()
    await expect.poll(() => trainable(again), { timeout: 60_000 }).toBe(chosen)
    expect(await again.getByTestId('backbone-mobilenet_v1_0.75_224').isChecked()).toBe(true)
    await again.getByTestId('nav-train').click()
    expect(await again.getByLabel('Optimizer').inputValue()).toBe('sgd')
    expect(await again.getByLabel('horizontal flip').isChecked()).toBe(true)
    expect(await again.getByTestId('epochs').inputValue()).toBe('3')
    await shot(again, 'session-3-choices-restored')

    // And the other dataset's, when it is opened again.
    await again.getByTestId('nav-dataset').click()
    await openDataset(again, BEES)
    await again.getByTestId('nav-train').click()
    await expect.poll(() => again.getByLabel('Optimizer').inputValue(), { timeout: 30_000 }).toBe('rmsprop')
    expect(await again.getByLabel('horizontal flip').isChecked()).toBe(false)
  })
})

describe('Runs view', () => {
  const row = (page: Page, runDir: string) => page.locator(`tr[data-run="${path.basename(runDir)}"]`)

  it('renames a run (kept in its run.json)', async () => {
    const page = await openPage()
    await page.getByTestId('nav-runs').click()
    const first = row(page, runs[0].runDir)
    await first.getByTestId('run-rename').click()
    await first.getByTestId('run-name-input').fill('weather baseline')
    await first.getByTestId('run-name-save').click()
    await expect.poll(() => first.getByTestId('run-name').innerText()).toBe('weather baseline')
    expect(JSON.parse(fs.readFileSync(path.join(runs[0].runDir, 'run.json'), 'utf8')).name).toBe('weather baseline')
    expect(await first.innerText()).toMatch(/backbone frozen/)
    expect(await first.innerText()).toMatch(/1 epoch · batch 32 · lr 0\.001 · adam/)
    expect(await first.getByTestId('run-status').innerText()).toBe('completed')
  })

  it('compares runs: curves overlaid and the settings that differ', async () => {
    for (const viewport of [
      { width: 1024, height: 700 },
      { width: 1920, height: 1080 }
    ]) {
      const page = await openPage(viewport)
      await page.getByTestId('nav-runs').click()
      for (const run of runs) await row(page, run.runDir).getByTestId('run-compare-toggle').check()
      const compare = page.getByTestId('run-compare')
      await compare.waitFor()
      const settings = await page.getByTestId('compare-settings').locator('tbody tr').allInnerTexts()
      expect(settings.map((s) => s.split('\t')[0]).sort()).toEqual(['epochs', 'learningRate'])
      // Columns in the list's order, newest first.
      expect(
        settings
          .find((s) => s.startsWith('learningRate'))!
          .split('\t')
          .slice(1)
      ).toEqual(['0.01', '0.001'])
      await expect.poll(() => ink(page, 'compare-accuracy'), { timeout: 10_000 }).toBeGreaterThan(20)
      await expect.poll(() => ink(page, 'compare-loss'), { timeout: 10_000 }).toBeGreaterThan(20)
      await shot(page, `session-4-runs-compare-${viewport.width}x${viewport.height}`)
    }
  })

  it('exports the history as a CSVLogger file and the model as a Keras .h5', async () => {
    const page = await openPage()
    await page.getByTestId('nav-runs').click()
    const second = row(page, runs[1].runDir)
    expect(await second.getByTestId('run-model-dir').innerText()).toContain(runs[1].modelDir)
    await second.getByTestId('run-export-csv').click()
    const csvFile = path.join(runs[1].runDir, 'history.csv')
    await expect.poll(() => second.getByTestId('run-exported').innerText()).toContain(csvFile)
    const lines = fs.readFileSync(csvFile, 'utf8').trimEnd().split('\n')
    expect(lines[0]).toBe('epoch,acc,loss,val_acc,val_loss,lr')
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['0', '1'])
    expect(await second.getByTestId('run-exported').getByRole('link', { name: 'download' }).getAttribute('href')).toMatch(/^blob:/)

    await second.getByTestId('run-export-keras').click()
    const h5 = path.join(runs[1].runDir, 'model.h5')
    await expect.poll(() => second.getByTestId('run-exported').innerText(), { timeout: 60_000 }).toContain(`Keras model written to ${h5}`)
    expect(fs.readFileSync(h5).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]))
  })

  it('deletes a run only after asking, and its folder goes', async () => {
    const page = await openPage()
    await page.getByTestId('nav-runs').click()
    const target = runs[1].runDir
    const victim = row(page, target)
    await victim.getByTestId('run-delete').click()
    await victim.getByTestId('run-delete-confirm').waitFor()
    await victim.getByTestId('run-delete-no').click()
    expect(await victim.getByTestId('run-delete-confirm').count()).toBe(0)
    expect(fs.existsSync(target)).toBe(true)

    await victim.getByTestId('run-delete').click()
    await victim.getByTestId('run-delete-yes').click()
    await expect.poll(() => victim.count()).toBe(0)
    expect(fs.existsSync(target)).toBe(false)
    // The other run is untouched.
    expect(fs.existsSync(path.join(runs[0].runDir, 'model', 'model.json'))).toBe(true)
    expect(await row(page, runs[0].runDir).count()).toBe(1)
  })
})
