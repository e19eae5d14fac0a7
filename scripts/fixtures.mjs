// @ts-check
// `npm run fixtures` (run first by `npm test` and `npm run bench`): makes the test data and weights
// that test/fixtures/manifest.json lists available, and says in one line what it did.
// - $TRANSFER_STUDIO_FIXTURES, or ../shared beside the checkout: used as they are, no network.
// - otherwise: .cache/fixtures/shared, filled with what is missing: downloaded (resumable, size and
//   SHA-256 checked), rebuilt by recipe, or generated from real photos.
// $TRANSFER_STUDIO_FIXTURES_BASE_URL points every download at a mirror laid out like ../shared.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import cliProgress from 'cli-progress'
import { RECIPES } from './fixtures/derive.mjs'
import { download } from './fixtures/download.mjs'
import { GENERATORS } from './fixtures/generate.mjs'
import { CACHE, MANIFEST, ROOT, fixturesRoot } from './fixtures/root.mjs'

/**
 * @typedef {{ url: string, commit?: string, size: number, sha256: string }} Input
 * @typedef {{ path: string, size?: number, sha256?: string, source?: string, url?: string,
 *   derive?: { recipe: string, input?: Input }, generate?: { recipe: string, from?: string } }} Entry
 */

const CONCURRENCY = 8
const started = Date.now()
/** @type {{ files: Entry[] }} */
const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'))
const root = fixturesRoot()
const shown = (/** @type {string} */ dir) => path.relative(ROOT, dir) || '.'
const mb = (/** @type {number} */ bytes) => `${(bytes / 1e6).toFixed(1)} MB`
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`

/** @param {string} message */
function fail(message) {
  console.error(`fixtures: ${message}`)
  process.exit(1)
}

/** A folder someone gave us is used as it is: every listed file must be there (generated ones may differ in bytes). */
function useGivenFolder() {
  const problems = manifest.files.flatMap((entry) => {
    const file = path.join(root.dir, entry.path)
    if (!fs.existsSync(file)) return [`${entry.path}: missing`]
    const size = fs.statSync(file).size
    return entry.size !== undefined && size !== entry.size ? [`${entry.path}: ${size} bytes, expected ${entry.size}`] : []
  })
  const origin = root.kind === 'env' ? `$TRANSFER_STUDIO_FIXTURES (${root.dir})` : shown(root.dir)
  if (problems.length > 0) {
    const more = problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''
    fail(`${origin} is not a complete fixtures folder (${problems.length} problems):\n  ${problems.slice(0, 20).join('\n  ')}${more}`)
  }
  const bytes = manifest.files.reduce((sum, entry) => sum + fs.statSync(path.join(root.dir, entry.path)).size, 0)
  console.log(`fixtures: using ${origin}: all ${manifest.files.length} files present (${mb(bytes)}); no network used`)
}

/** @param {string} file @param {Buffer} bytes */
function writeAtomically(file, bytes) {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(`${file}.part`, bytes)
  fs.renameSync(`${file}.part`, file)
}

/** @param {string} repoPath */
const encodePath = (repoPath) => repoPath.split('/').map(encodeURIComponent).join('/')

/** Shows bytes done of the total: a bar on a terminal, a line every tenth otherwise. */
function progress(/** @type {number} */ total, /** @type {number} */ files) {
  let done = 0
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'fixtures [{bar}] {percentage}% | {doneMB} of {totalMB} MB | {eta_formatted} left', stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic
    )
    bar.start(total, 0, { doneMB: '0.0', totalMB: (total / 1e6).toFixed(1) })
    return {
      add: (/** @type {number} */ bytes) => bar.update((done += bytes), { doneMB: (done / 1e6).toFixed(1) }),
      stop: () => bar.stop()
    }
  }
  let shownTenth = -1
  return {
    add: (/** @type {number} */ bytes) => {
      done += bytes
      const tenth = Math.floor((10 * done) / total)
      if (tenth > shownTenth) {
        shownTenth = tenth
        console.error(`fixtures: ${Math.min(100, tenth * 10)}% of ${files} files (${mb(done)} of ${mb(total)})`)
      }
    },
    stop: () => {}
  }
}

/** @template T @param {T[]} items @param {(item: T) => Promise<void>} work */
async function eachLimited(items, work) {
  let next = 0
  const worker = async () => {
    while (next < items.length) await work(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker))
}

async function fillCache() {
  const base = process.env.TRANSFER_STUDIO_FIXTURES_BASE_URL?.replace(/\/*$/, '/')
  const target = (/** @type {Entry} */ entry) => path.join(root.dir, entry.path)
  // A recipe's input can be a fixture of its own (the CIFAR-10 test batch is): fetched once, read from there.
  const inputFile = (/** @type {Input} */ input) => {
    const same = manifest.files.find((entry) => entry.url === input.url && entry.sha256 === input.sha256)
    return same ? target(same) : path.join(CACHE, 'inputs', input.sha256)
  }
  const missing = manifest.files.filter((entry) => {
    const file = target(entry)
    // A file under its final name was checked when it was written (downloads, recipes and generators all write a .part first).
    return !fs.existsSync(file) || (entry.size !== undefined && fs.statSync(file).size !== entry.size)
  })

  // A mirror is laid out like ../shared, so it serves even rebuilt files as they are; recipes from
  // npm packages and generated files need no network at all.
  /** @type {{ url: string, dest: string, size: number, sha256: string, copies: string[] }[]} */
  const fetches = []
  // Each address is fetched once: the mini datasets are files of the full ones, at the same URLs.
  const want = (/** @type {{ url: string, dest: string, size: number, sha256: string }} */ f) => {
    if (fetches.some((other) => other.dest === f.dest || other.copies.includes(f.dest))) return
    const same = fetches.find((other) => other.url === f.url)
    if (same) same.copies.push(f.dest)
    else fetches.push({ ...f, copies: [] })
  }
  /** @type {Entry[]} */
  const derived = []
  for (const entry of missing) {
    if (entry.generate || (entry.derive && !entry.derive.input)) continue
    const size = /** @type {number} */ (entry.size)
    const sha256 = /** @type {string} */ (entry.sha256)
    if (base || entry.url) {
      want({ url: base ? base + encodePath(entry.path) : /** @type {string} */ (entry.url), dest: target(entry), size, sha256 })
    } else if (entry.derive?.input) {
      derived.push(entry)
      const input = entry.derive.input
      const dest = inputFile(input)
      if (!fs.existsSync(dest) || fs.statSync(dest).size !== input.size) want({ url: input.url, dest, size: input.size, sha256: input.sha256 })
    }
  }

  const total = fetches.reduce((sum, f) => sum + f.size, 0)
  if (fetches.length > 0) {
    const bar = progress(total, fetches.length)
    try {
      await eachLimited(fetches, async (f) => {
        await download(f.url, f.dest, { size: f.size, sha256: f.sha256, onBytes: bar.add })
        for (const copy of f.copies) {
          fs.mkdirSync(path.dirname(copy), { recursive: true })
          fs.copyFileSync(f.dest, `${copy}.part`)
          fs.renameSync(`${copy}.part`, copy)
        }
      })
    } catch (error) {
      bar.stop()
      fail(`download failed: ${error instanceof Error ? error.message : String(error)}`)
    }
    bar.stop()
  }

  const rebuilt = [...derived, ...missing.filter((entry) => entry.derive && !entry.derive.input)]
  for (const entry of rebuilt) {
    const recipe = /** @type {Record<string, (input?: Buffer) => Buffer>} */ (RECIPES)[/** @type {{ recipe: string }} */ (entry.derive).recipe]
    const input = entry.derive?.input ? fs.readFileSync(inputFile(entry.derive.input)) : undefined
    const bytes = recipe(input)
    const digest = crypto.createHash('sha256').update(bytes).digest('hex')
    if (digest !== entry.sha256) fail(`${entry.path}: rebuilt with ${entry.derive?.recipe}, SHA-256 ${digest}, expected ${entry.sha256}`)
    writeAtomically(target(entry), bytes)
  }

  const generated = missing.filter((entry) => entry.generate)
  for (const entry of generated) {
    const { recipe, from } = /** @type {{ recipe: string, from?: string }} */ (entry.generate)
    const make = /** @type {Record<string, (from: string) => Promise<Buffer>>} */ (GENERATORS)[recipe]
    writeAtomically(target(entry), await make(from ? path.join(root.dir, from) : ''))
  }

  const present = manifest.files.length - missing.length
  const files = `${fetches.length} file${fetches.length === 1 ? '' : 's'}`
  const fetched = fetches.length > 0 ? `downloaded ${files} (${mb(total)}) from ${base ?? 'their public sources'}` : 'downloaded nothing'
  console.log(
    `fixtures: ${fetched} into ${shown(root.dir)}; rebuilt ${rebuilt.length}, generated ${generated.length}, ` +
      `${present} of ${manifest.files.length} already there (${seconds()})`
  )
}

if (root.kind === 'cache') await fillCache()
else useGivenFolder()
