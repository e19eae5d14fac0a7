// @ts-check
// `npm run serve` builds the UI only when its sources changed since the last build: a SHA-256 of
// every file the renderer bundle is made from is kept beside it (out/renderer-sources.sha256),
// and a start with the same hash and a built index.html skips the minute-long build. Content,
// not modification times: a checkout that touches files without changing them rebuilds nothing.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** What the renderer bundle is made from (src/renderer imports src/shared; the config and dependencies shape it). */
export const UI_SOURCES = ['src/renderer', 'src/shared', 'electron.vite.config.ts', 'tsconfig.json', 'tsconfig.web.json', 'package.json', 'package-lock.json']
export const STAMP = path.join('out', 'renderer-sources.sha256')

/** @param {string} root */
export function uiSourceHash(root) {
  const hash = createHash('sha256')
  /** @param {string} relative */
  const add = (relative) => {
    const full = path.join(root, relative)
    const stat = fs.statSync(full, { throwIfNoEntry: false })
    if (!stat) return
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(full).sort()) add(path.join(relative, name))
      return
    }
    hash.update(`${relative.split(path.sep).join('/')}\0${stat.size}\0`)
    hash.update(fs.readFileSync(full))
  }
  for (const source of UI_SOURCES) add(source)
  return hash.digest('hex')
}

/**
 * Why the UI must be built, or null when out/renderer is up to date with its sources.
 * @param {string} root
 */
export function whyBuild(root) {
  if (!fs.existsSync(path.join(root, 'out', 'renderer', 'index.html'))) return 'the UI has not been built yet'
  const stamp = path.join(root, STAMP)
  if (!fs.existsSync(stamp)) return 'the last build did not record its sources'
  return fs.readFileSync(stamp, 'utf8').trim() === uiSourceHash(root) ? null : 'its sources changed since the last build'
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  const reason = whyBuild(root)
  if (!reason) {
    console.log('The UI is up to date with its sources: not rebuilding (delete out/ to force a build)')
  } else {
    console.log(`Building the UI: ${reason}`)
    const hash = uiSourceHash(root)
    const require = createRequire(import.meta.url)
    const bin = path.join(path.dirname(require.resolve('electron-vite/package.json')), 'bin', 'electron-vite.js')
    const result = spawnSync(process.execPath, [bin, 'build'], { cwd: root, stdio: 'inherit' })
    if (result.status !== 0) process.exit(result.status ?? 1)
    // The hash of the sources as they were when the build began: an edit during it rebuilds next time.
    fs.writeFileSync(path.join(root, STAMP), `${hash}\n`)
  }
}
