// Runs electronegativity (Electron's static security scanner) over src/ and fails on any finding
// that is not an accepted, documented exception.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

// Findings we accept, with the reason (also in the README).
const ACCEPTED = {
  // A preload is how the sandboxed renderer gets its typed client: reviewed in src/preload.
  PRELOAD_JS_CHECK: 'preload reviewed',
  // PrimeVue injects its theme as <style> elements at run time; scripts stay 'self' only.
  CSP_GLOBAL_CHECK: "style-src 'unsafe-inline' for PrimeVue's runtime styles"
}

// Installed into a folder of its own: it uses an old commander it does not declare, and would
// pick up this project's newer one.
const TOOL = '@doyensec/electronegativity@1.10.3'
const prefix = new URL('../.cache/electronegativity/', import.meta.url).pathname
const bin = path.join(prefix, 'node_modules', '.bin', 'electronegativity')
if (!fs.existsSync(bin)) {
  fs.mkdirSync(prefix, { recursive: true })
  fs.writeFileSync(path.join(prefix, 'package.json'), '{"private":true}')
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', prefix, TOOL], { stdio: 'inherit' })
}

const electron = JSON.parse(fs.readFileSync(new URL('../node_modules/electron/package.json', import.meta.url), 'utf8')).version
// SARIF (JSON), not CSV: the CSV quotes multi-line source samples, which breaks naive parsing.
const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'eneg-')), 'findings.sarif')
execFileSync(bin, ['-i', 'src', '-e', electron, '-o', out], { stdio: ['ignore', 'ignore', 'inherit'] })
const sarif = JSON.parse(fs.readFileSync(out, 'utf8'))
const findings = sarif.runs.flatMap((run) => run.results)
const unexpected = findings.filter((finding) => !(finding.ruleId in ACCEPTED))
console.log(`electronegativity (Electron ${electron}): ${findings.length} findings, ${findings.length - unexpected.length} accepted`)
for (const finding of unexpected) {
  const where = finding.locations?.[0]?.physicalLocation
  console.log(`  ${finding.ruleId}: ${finding.message?.text ?? ''} (${where?.artifactLocation?.uri ?? '?'}:${where?.region?.startLine ?? '?'})`)
}
process.exit(unexpected.length > 0 ? 1 : 0)
