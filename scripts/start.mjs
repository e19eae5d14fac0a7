// @ts-check
// `npm start`: the desktop app in development (electron-vite dev), once Electron's own binary is
// there. Electron 45 downloads it at first use and, without it, ends in a stack trace; this says in
// one line what to do instead.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Electron 45 and electron-vite 6 need this Node (older ones get EBADENGINE warnings and may fail). */
export const NODE_NEEDED = [22, 12]

export const MISSING_ELECTRON =
  "Electron's binary is not installed (it is downloaded separately): run `npx install-electron` once where there is internet, or `npm run serve` for the same app in a browser"

/**
 * Why Electron cannot start from `electronDir` (the electron npm package), or null when it can.
 * @param {string} electronDir
 * @param {NodeJS.ProcessEnv} env
 */
export function electronProblem(electronDir, env = process.env) {
  if (env.ELECTRON_OVERRIDE_DIST_PATH) return null
  const pathFile = path.join(electronDir, 'path.txt')
  if (!fs.existsSync(pathFile)) return MISSING_ELECTRON
  const binary = path.join(electronDir, 'dist', fs.readFileSync(pathFile, 'utf8').trim())
  return fs.existsSync(binary) ? null : MISSING_ELECTRON
}

/**
 * A warning when this Node is older than Electron and electron-vite ask for, or null.
 * @param {string} version
 */
export function nodeWarning(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number)
  const [needMajor, needMinor] = NODE_NEEDED
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return null
  return `warning: Electron 45 and electron-vite need Node ${needMajor}.${needMinor} or newer; this is ${version} (the browser mode, npm run serve, works on it)`
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const require = createRequire(import.meta.url)
  const electronDir = path.dirname(require.resolve('electron/package.json'))
  const problem = electronProblem(electronDir)
  if (problem) {
    console.error(problem)
    process.exit(1)
  }
  const warning = nodeWarning()
  if (warning) console.error(warning)
  const bin = path.join(path.dirname(require.resolve('electron-vite/package.json')), 'bin', 'electron-vite.js')
  const child = spawn(process.execPath, [bin, 'dev', ...process.argv.slice(2)], { stdio: 'inherit' })
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
}
