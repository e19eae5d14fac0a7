// `npm start` without Electron's binary says in one line what to do; `npm run serve` rebuilds the
// UI only when its sources changed.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { STAMP, uiSourceHash, whyBuild } from '../../scripts/build-ui-if-changed.mjs'
import { electronProblem, MISSING_ELECTRON, nodeWarning } from '../../scripts/start.mjs'
import { ROOT, tempDir } from '../helpers'

const ELECTRON = path.join(ROOT, 'node_modules', 'electron')

describe('npm start', () => {
  it('finds the binary missing when path.txt or the file it names is absent', () => {
    const dir = tempDir('ts-electron-')
    expect(electronProblem(dir, {})).toBe(MISSING_ELECTRON)
    fs.writeFileSync(path.join(dir, 'path.txt'), 'electron')
    expect(electronProblem(dir, {})).toBe(MISSING_ELECTRON)
    fs.mkdirSync(path.join(dir, 'dist'))
    fs.writeFileSync(path.join(dir, 'dist', 'electron'), '')
    expect(electronProblem(dir, {})).toBeNull()
    // Electron's own override of where its binary lives is respected.
    expect(electronProblem(tempDir('ts-electron-'), { ELECTRON_OVERRIDE_DIST_PATH: '/opt/electron' })).toBeNull()
  })

  it('warns about a Node older than Electron 45 and electron-vite need', () => {
    expect(nodeWarning('20.19.0')).toBe(
      'warning: Electron 45 and electron-vite need Node 22.12 or newer; this is 20.19.0 (the browser mode, npm run serve, works on it)'
    )
    expect(nodeWarning('22.11.9')).toMatch(/^warning: /)
    expect([nodeWarning('22.12.0'), nodeWarning('24.1.0')]).toEqual([null, null])
  })

  // This machine cannot download Electron's binary (docs/DESIGN.md); where it can, this is skipped.
  it.runIf(electronProblem(ELECTRON, {}) !== null)('without the binary, exits 1 with that one line and no stack trace', () => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: '' }
    })
    expect(result.status).toBe(1)
    expect(result.stderr).toBe(`${MISSING_ELECTRON}\n`)
    expect(MISSING_ELECTRON).toContain('npx install-electron')
    expect(MISSING_ELECTRON).toContain('npm run serve')
  })
})

describe('npm run serve', () => {
  function fakeCheckout(): string {
    const root = tempDir('ts-checkout-')
    fs.mkdirSync(path.join(root, 'src', 'renderer', 'src'), { recursive: true })
    fs.mkdirSync(path.join(root, 'src', 'shared'))
    fs.mkdirSync(path.join(root, 'src', 'engine'))
    fs.writeFileSync(path.join(root, 'src', 'renderer', 'src', 'App.vue'), '<template>a</template>')
    fs.writeFileSync(path.join(root, 'src', 'shared', 'protocol.ts'), 'export {}')
    fs.writeFileSync(path.join(root, 'src', 'engine', 'train.ts'), 'export {}')
    fs.writeFileSync(path.join(root, 'electron.vite.config.ts'), 'export default {}')
    return root
  }

  it('builds when nothing was built, then not until a UI source changes', () => {
    const root = fakeCheckout()
    expect(whyBuild(root)).toBe('the UI has not been built yet')
    fs.mkdirSync(path.join(root, 'out', 'renderer'), { recursive: true })
    fs.writeFileSync(path.join(root, 'out', 'renderer', 'index.html'), '<html>')
    expect(whyBuild(root)).toBe('the last build did not record its sources')
    fs.writeFileSync(path.join(root, STAMP), `${uiSourceHash(root)}\n`)
    expect(whyBuild(root)).toBeNull()
    // Touching a file without changing it, or changing the engine, leaves the UI as built.
    const app = path.join(root, 'src', 'renderer', 'src', 'App.vue')
    fs.utimesSync(app, new Date(), new Date(Date.now() + 60_000))
    fs.writeFileSync(path.join(root, 'src', 'engine', 'train.ts'), 'export const changed = 1')
    expect(whyBuild(root)).toBeNull()
    for (const file of [app, path.join(root, 'src', 'shared', 'protocol.ts'), path.join(root, 'electron.vite.config.ts')]) {
      const before = fs.readFileSync(file)
      fs.appendFileSync(file, ' ')
      expect(whyBuild(root), file).toBe('its sources changed since the last build')
      fs.writeFileSync(file, before)
      expect(whyBuild(root)).toBeNull()
    }
    // A new file (a new component) counts too.
    fs.writeFileSync(path.join(root, 'src', 'renderer', 'src', 'New.vue'), '<template>b</template>')
    expect(whyBuild(root)).toBe('its sources changed since the last build')
  })

  it('skips the build when out/renderer matches, saying so', () => {
    const root = fakeCheckout()
    fs.mkdirSync(path.join(root, 'scripts'))
    fs.copyFileSync(path.join(ROOT, 'scripts', 'build-ui-if-changed.mjs'), path.join(root, 'scripts', 'build-ui-if-changed.mjs'))
    fs.mkdirSync(path.join(root, 'out', 'renderer'), { recursive: true })
    fs.writeFileSync(path.join(root, 'out', 'renderer', 'index.html'), '<html>')
    fs.writeFileSync(path.join(root, STAMP), `${uiSourceHash(root)}\n`)
    const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-ui-if-changed.mjs')], { encoding: 'utf8', cwd: ROOT })
    expect([result.status, result.stdout]).toEqual([0, 'The UI is up to date with its sources: not rebuilding (delete out/ to force a build)\n'])
  })
})
