/// <reference lib="dom" />
// The screens around training, in Debian's Chromium against the headless server: the dataset
// view's warnings and exclusions, layout at 1024x700 and 1920x1080, the form's checks, the
// learning-rate chart, the backbone card and layer tree, and Stop during feature extraction.
import fs from 'node:fs'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { RunningServer } from '../../src/server/serve'
import { DATA, startTestServer, tempDir } from '../helpers'
import { launchChromium, openDataset as openHarnessDataset, screenshot, watch } from './harness'

const WEATHER = path.join(DATA, 'mini', 'weather')
const HYMENOPTERA = path.join(DATA, 'hymenoptera')
const SMALL = { width: 1024, height: 700 }
const LARGE = { width: 1920, height: 1080 }
let server: RunningServer
let browser: Browser
let page: Page
/** Uncaught errors, console errors and failed requests of the current test's page. */
let problems: string[] = []
/** A dataset made to warn: one class with one photo, one empty class, one photo in two classes, one in train and val. */
let warned: string

beforeAll(async () => {
  server = await startTestServer()
  browser = await launchChromium()
  warned = warningDataset()
}, 300_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

async function newPage(viewport: { width: number; height: number }): Promise<void> {
  page = await browser.newPage({ viewport })
  problems = watch(page)
  await page.goto(server.url)
}

beforeEach(() => newPage(SMALL))

afterEach(async () => {
  const seen = [...problems]
  await page.close()
  expect(seen).toEqual([])
})

/** Copies of real photos (copies, not links: the thumbnails are of regular files). */
function warningDataset(): string {
  const root = tempDir('ts-warned-')
  const from = (split: string, label: string, i: number) => {
    const dir = path.join(WEATHER, split, label)
    return path.join(dir, fs.readdirSync(dir).sort()[i])
  }
  const put = (rel: string, file: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true })
    fs.copyFileSync(file, path.join(root, rel))
  }
  for (let i = 0; i < 4; i++) put(`train/cloudy/c${i}.jpg`, from('train', 'cloudy', i))
  for (let i = 0; i < 3; i++) put(`train/shine/s${i}.jpg`, from('train', 'shine', i))
  put('train/rain/r0.jpg', from('train', 'rain', 0))
  // The same photo labelled cloudy and shine.
  put('train/shine/same-as-c0.jpg', from('train', 'cloudy', 0))
  fs.mkdirSync(path.join(root, 'train', 'sunrise'))
  for (let i = 0; i < 2; i++) put(`val/cloudy/vc${i}.jpg`, from('val', 'cloudy', i))
  put('val/shine/vs0.jpg', from('val', 'shine', 0))
  // A training photo again in validation.
  put('val/shine/same-as-s1.jpg', from('train', 'shine', 1))
  put('val/rain/vr0.jpg', from('val', 'rain', 0))
  return root
}

const shot = (name: string) => screenshot(page, name, false)

const openDataset = (dir: string) => openHarnessDataset(page, dir)

/** Boxes that stick out of the content area or scroll sideways: nothing should. */
function clipped(): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = []
    const content = document.querySelector('.content')!
    const right = content.getBoundingClientRect().right + 0.5
    if (document.documentElement.scrollWidth > window.innerWidth)
      out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`)
    if (content.scrollWidth > content.clientWidth + 1) out.push(`content scrolls sideways: ${content.scrollWidth} > ${content.clientWidth}`)
    for (const panel of Array.from(document.querySelectorAll<HTMLElement>('.content .panel'))) {
      const box = panel.getBoundingClientRect()
      const name = panel.dataset.testid ?? panel.querySelector('h3')?.textContent?.trim() ?? panel.className
      if (box.right > right) out.push(`${name} ends at ${box.right}, past the content's ${right}`)
      if (panel.scrollWidth > panel.clientWidth + 1) out.push(`${name} scrolls sideways: ${panel.scrollWidth} > ${panel.clientWidth}`)
    }
    return out
  })
}

async function waitForTree(): Promise<void> {
  await page.getByTestId('layer-tree').waitFor({ timeout: 120_000 })
}

describe('dataset view', () => {
  it('says what training will do with each warning, and excluding a file or class settles it', async () => {
    await openDataset(warned)
    const warnings = page.getByTestId('dataset-warnings')
    const text = await warnings.innerText()
    expect(text).toMatch(/Class “sunrise” has no images\. Training will refuse to start/)
    expect(text).toMatch(/The same image is in “cloudy” and “shine”: c0\.jpg = same-as-c0\.jpg\. Training keeps every copy, each with its own label/)
    expect(text).toMatch(/The same image is in train and val: s1\.jpg = same-as-s1\.jpg\. Training keeps both/)
    // "1 image", not "1 images": rain has one training photo.
    // Links per row: train, val; rain is the second row.
    await page.getByTestId('class-table').getByRole('link').nth(2).click()
    await expect.poll(() => page.getByTestId('thumbnail-pane').locator('h3').innerText()).toBe('rain · train · 1 image')

    await warnings.getByTestId('exclude-class').click()
    await warnings.getByRole('button', { name: 'Exclude shine/same-as-c0.jpg' }).click()
    await warnings.getByRole('button', { name: 'Exclude shine/same-as-s1.jpg' }).click()
    await expect.poll(() => page.getByTestId('warnings-pane').locator('h3').first().innerText()).toBe('Before training (0)')
    const excluded = await page.getByTestId('excluded').innerText()
    expect(excluded).toMatch(/class “sunrise”/)
    expect(excluded).toMatch(/shine\/same-as-c0\.jpg/)
    expect(await page.getByTestId('train-class-sunrise').isChecked()).toBe(false)
    await shot('screens-dataset-warnings-1024x700')
  }, 400_000)

  it('says so when the test split stands in for validation', async () => {
    const root = tempDir('ts-with-test-')
    for (const split of ['train', 'val', 'test']) {
      for (const label of ['cloudy', 'rain']) {
        const dir = path.join(WEATHER, split === 'test' ? 'val' : split, label)
        fs.mkdirSync(path.join(root, split, label), { recursive: true })
        for (const name of fs.readdirSync(dir).sort().slice(0, 2)) fs.copyFileSync(path.join(dir, name), path.join(root, split, label, name))
      }
    }
    await openDataset(root)
    expect(await page.getByTestId('test-as-validation').count()).toBe(0)
    await page.getByTestId('validation-source').selectOption({ label: 'the test split' })
    expect(await page.getByTestId('test-as-validation').innerText()).toMatch(/^The test split now doubles as validation/)
  }, 400_000)
})

describe('layout', () => {
  it('nothing clips at 1024x700 or 1920x1080; each pane scrolls on its own; thumbnail columns follow the width', async () => {
    await openDataset(HYMENOPTERA)
    await page.locator('img.thumb').first().waitFor({ timeout: 30_000 })
    const columns = async () => Number(await page.getByTestId('thumbnail-pane').getAttribute('data-columns'))
    // The row's CSS grid has as many columns as the pane holds thumbnails.
    const gridColumns = () =>
      page
        .locator('.thumb-row')
        .first()
        .evaluate((row) => getComputedStyle(row).gridTemplateColumns.split(' ').length)
    const small = await columns()
    expect(await gridColumns()).toBe(small)
    await expect.poll(() => page.locator('.thumb-row').first().locator('img').count()).toBe(small)
    for (const id of ['class-pane', 'warnings-pane']) {
      expect(await page.getByTestId(id).evaluate((pane) => getComputedStyle(pane).overflowY)).toBe('auto')
    }
    expect(await clipped()).toEqual([])
    await shot('screens-dataset-1024x700')

    await page.setViewportSize(LARGE)
    await expect.poll(columns).toBeGreaterThan(small)
    expect(await gridColumns()).toBe(await columns())
    expect(await clipped()).toEqual([])
    await shot('screens-dataset-1920x1080')

    for (const [view, size] of [
      ['model', SMALL],
      ['train', SMALL],
      ['evaluate', SMALL],
      ['predict', SMALL],
      ['runs', SMALL],
      ['model', LARGE],
      ['train', LARGE]
    ] as const) {
      await page.setViewportSize(size)
      await page.getByTestId(`nav-${view}`).click()
      if (view === 'model') await waitForTree()
      expect({ view, size, clipped: await clipped() }).toEqual({ view, size, clipped: [] })
      await shot(`screens-${view}-${size.width}x${size.height}`)
    }
  }, 400_000)
})

describe('training screen', () => {
  it('an invalid field is named in plain words beside it, Start waits, and the charts stay; the learning rate is on a log axis', async () => {
    await openDataset(WEATHER)
    await page.getByTestId('nav-model').click()
    await waitForTree()
    await page.getByTestId('nav-train').click()
    await page.getByTestId('epochs').fill('1')
    await page.getByTestId('train-start').click()
    await page.getByTestId('train-outcome').waitFor({ timeout: 180_000 })
    const rows = () => page.getByTestId('epoch-table').locator('tbody tr').count()
    expect(await rows()).toBe(1)
    const inked = () =>
      page
        .getByTestId('chart-loss')
        .locator('canvas')
        .evaluate((canvas: HTMLCanvasElement) => {
          const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
          let coloured = 0
          for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3] > 0 && pixels[i + 2] > pixels[i] + 40) coloured++
          return coloured
        })
    const before = await inked()
    expect(before).toBeGreaterThan(50)
    // The bar ends full, not at whatever the last batch said.
    expect(await page.getByTestId('train-progress').getAttribute('data-fraction')).toBe('1')

    await page.getByTestId('epochs').fill('0')
    expect(await page.getByTestId('problem-epochs').innerText()).toBe('Too small: must be a whole number from 1 to 10000.')
    await page.getByTestId('epochs').fill('2.5')
    expect(await page.getByTestId('problem-epochs').innerText()).toBe('Must be a whole number (from 1 to 10000).')
    await page.getByTestId('epochs').fill('')
    expect(await page.getByTestId('problem-epochs').innerText()).toBe('Enter a whole number from 1 to 10000.')
    expect(await page.getByTestId('train-start').isDisabled()).toBe(true)
    expect(await rows()).toBe(1)
    expect(await inked()).toBe(before)
    expect(await page.getByTestId('train-error').count()).toBe(0)
    await shot('screens-train-invalid-1024x700')

    await page.getByTestId('epochs').fill('3')
    expect(await page.getByTestId('problem-epochs').count()).toBe(0)
    expect(await page.getByTestId('train-start').isDisabled()).toBe(false)

    const lr = page.getByTestId('chart-lr')
    expect(await lr.getAttribute('data-y-scale')).toBe('logarithmic')
    expect(await lr.getAttribute('data-stepped')).toBe('before')
  }, 400_000)

  it('fast backbone switching leaves the highlighted card and the tree on the same model', async () => {
    // describeModel requests and their answers (or errors), followed over the socket from a fresh load.
    const asked = new Set<number>()
    const answered = new Map<number, string>()
    page.on('websocket', (ws) => {
      ws.on('framesent', ({ payload }) => {
        const message = JSON.parse(String(payload)) as { id: number; body: { command: string } }
        if (message.body?.command === 'describeModel') asked.add(message.id)
      })
      ws.on('framereceived', ({ payload }) => {
        const message = JSON.parse(String(payload)) as { id?: number; ok?: boolean; error?: string }
        if (message.id !== undefined && asked.has(message.id)) answered.set(message.id, message.ok ? 'ok' : `error: ${message.error}`)
      })
    })
    await page.reload()
    await openDataset(WEATHER)
    await page.getByTestId('nav-model').click()
    await waitForTree()
    const before = asked.size
    const order = ['resnet50', 'mobilenet_v1_0.75_224', 'resnet50', 'mobilenet_v1_0.25_224', 'resnet50', 'mobilenet_v1_0.75_224']
    for (const id of order) await page.locator(`label.card:has([data-testid="backbone-${id}"])`).click()
    const agree = () =>
      page.evaluate(() => {
        const chosen = document.querySelector('label.card.chosen input')?.getAttribute('value') ?? null
        const tree = document.querySelector('[data-testid="layer-tree"]')?.getAttribute('data-backbone') ?? null
        return { chosen, tree }
      })
    // Until every answer is in, whatever tree shows is the chosen card's.
    const seen: Array<{ chosen: string | null; tree: string | null }> = []
    await expect
      .poll(
        async () => {
          const now = await agree()
          seen.push(now)
          return asked.size - before >= order.length && answered.size === asked.size
        },
        { timeout: 300_000, interval: 100 }
      )
      .toBe(true)
    const errors = [...answered.values()].filter((a) => a !== 'ok')
    if (errors.length) console.log(`describeModel errors while switching: ${errors.join('; ')}`)
    for (const s of seen) if (s.tree !== null) expect(s.tree).toBe(s.chosen)
    await expect.poll(agree, { timeout: 30_000 }).toEqual({ chosen: 'mobilenet_v1_0.75_224', tree: 'mobilenet_v1_0.75_224' })
    await shot('screens-model-switched-1024x700')
  }, 400_000)

  it('Stop during feature extraction shows Stopping… until the run has stopped', async () => {
    await openDataset(HYMENOPTERA)
    await page.getByTestId('nav-model').click()
    await page.locator('label.card:has([data-testid="backbone-mobilenet_v1_0.75_224"])').click()
    await expect.poll(() => page.locator('[data-testid="layer-tree"]').getAttribute('data-backbone'), { timeout: 120_000 }).toBe('mobilenet_v1_0.75_224')
    await page.getByTestId('nav-train').click()
    await page.getByTestId('epochs').fill('2')
    await page.getByTestId('train-start').click()
    const progress = page.getByTestId('train-progress')
    await expect.poll(() => progress.getAttribute('data-phase'), { timeout: 120_000, interval: 50 }).toBe('extracting')
    expect(await page.getByTestId('train-status').innerText()).toMatch(/^Computing train features: \d+ of 245/)
    await page.getByTestId('train-stop').click()
    const statuses: string[] = []
    await expect
      .poll(
        async () => {
          // Read without waiting: the status line must never be missing either.
          statuses.push((await page.getByTestId('train-status').allInnerTexts())[0] ?? '(no status line)')
          return page.getByTestId('train-start').isEnabled()
        },
        { timeout: 120_000, interval: 100 }
      )
      .toBe(true)
    statuses.push((await page.getByTestId('train-status').allInnerTexts())[0] ?? '(no status line)')
    // No batch, extraction count or notice replaced "Stopping…" before the run ended.
    expect(statuses.length).toBeGreaterThan(1)
    expect(statuses[0]).toMatch(/^Stopping…/)
    for (const s of statuses) expect(s).toMatch(/^(Stopping…|Finished: stopped|Stopped)/)
    expect(statuses.at(-1)).toMatch(/^(Finished: stopped|Stopped)/)
    const error = (await page.getByTestId('train-error').allInnerTexts())[0] ?? 'none'
    console.log(`after Stop: ${[...new Set(statuses)].join(' | ')}; error: ${error}`)
    await shot('screens-train-stopped-1024x700')
  }, 400_000)
})
