/// <reference lib="dom" />
// What every end-to-end file needs, in one place: the built renderer, Debian's Chromium, a watch
// on each page that records every uncaught error, console error and failed request (a test fails
// on any), the server's WebSocket for setting a test up through the API as the renderer does,
// screenshots kept as artifacts, and a file dropped on the window.
import fs from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { expect } from 'vitest'
import WebSocket from 'ws'
import type { RunningServer } from '../../src/server/serve'
import { ROOT } from '../helpers'

export const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots')

/** Debian's Chromium, never a downloaded build; `extraArgs` for e.g. a fake camera. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!fs.existsSync(path.join(ROOT, 'out', 'renderer', 'index.html'))) {
    throw new Error('The built renderer is missing: run `npm run build` first (`npm test` does)')
  }
  fs.mkdirSync(SCREENSHOTS, { recursive: true })
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', ...extraArgs]
  })
}

/**
 * Everything that went wrong on `page` from now on, as lines. A failed load is reported with its
 * address by the response or request listener, so its console line (without one) is skipped.
 * `allowed` names responses a test expects to fail (a refused request it makes on purpose).
 */
export function watch(page: Page, allowed: (url: URL, status: number) => boolean = () => false): string[] {
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console error: ${message.text()}`)
  })
  page.on('requestfailed', (request) => {
    // Aborted by the page itself (a reload, or a thumbnail scrolled away): not a failure of the app.
    if (request.failure()?.errorText === 'net::ERR_ABORTED') return
    problems.push(`request failed: ${request.url()}: ${request.failure()?.errorText}`)
  })
  page.on('response', (response) => {
    if (response.status() >= 400 && !allowed(new URL(response.url()), response.status())) problems.push(`HTTP ${response.status()}: ${response.url()}`)
  })
  return problems
}

export function connect(server: RunningServer): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`)
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

let nextId = 1
/** One command over the server's WebSocket, answered with its result (or its error, thrown). */
export function ask(ws: WebSocket, body: unknown): Promise<unknown> {
  const id = nextId++
  return new Promise((resolve, reject) => {
    const listen = (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString()) as { id?: number; ok: boolean; result?: unknown; error?: string }
      if (message.id !== id) return
      ws.off('message', listen)
      if (message.ok) resolve(message.result)
      else reject(new Error(`${(body as { command: string }).command}: ${message.error}`))
    }
    ws.on('message', listen)
    ws.send(JSON.stringify({ id, body }))
  })
}

export function screenshot(page: Page, name: string, fullPage = true): Promise<Buffer> {
  return page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage })
}

/** Drops `file` on the window as a person drags a photo onto it. */
export async function dropFile(page: Page, file: string, type = 'image/png'): Promise<void> {
  const data = fs.readFileSync(file).toString('base64')
  const transfer = await page.evaluateHandle(
    ({ name, data, type }) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0))
      const dt = new DataTransfer()
      dt.items.add(new File([bytes], name, { type }))
      return dt
    },
    { name: path.basename(file), data, type }
  )
  await page.dispatchEvent('.shell', 'drop', { dataTransfer: transfer })
}

/** The class folders of a dataset folder (of its split folders, when it has a train folder), sorted. */
export function classFolders(dir: string): string[] {
  const folders = (d: string) =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
  const splits = fs.existsSync(path.join(dir, 'train')) ? folders(dir).map((split) => path.join(dir, split)) : [dir]
  return [...new Set(splits.flatMap(folders))].sort()
}

/**
 * Opens a dataset on the Dataset screen and waits for its scan. The host keeps the session: the
 * dataset open before shows until this one's scan is in, so this waits for this one's classes
 * (its class folders unless given: a CIFAR binary folder has none) rather than for any class table.
 */
export async function openDataset(page: Page, dir: string, options: { classes?: string[]; timeout?: number } = {}): Promise<void> {
  await page.getByTestId('dataset-path').fill(dir)
  await page.getByTestId('dataset-open').click()
  const classes = options.classes ?? classFolders(dir)
  await expect
    .poll(() => page.getByTestId('class-table').locator('tbody tr td:first-child').allInnerTexts(), { timeout: options.timeout ?? 180_000 })
    .toEqual(classes)
}
