// The official Keras weights, where a weights mirror holds them (they cannot be downloaded on the
// test machines): each backbone with its ImageNet top classifies real photos as Keras does. Looked
// for under TRANSFER_STUDIO_WEIGHTS (a folder) and ../shared/models, at their official relative paths.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { classifyImageNet } from '../../../src/engine/inference/imagenet'
import { BACKBONES } from '../../../src/engine/backbones/registry'
import { MODELS, PHOTOS, tempDir } from '../../helpers'

const mirrors = [process.env.TRANSFER_STUDIO_WEIGHTS, MODELS].filter((m): m is string => Boolean(m) && !/^(https?|file):/.test(m!))

describe('official Keras weights, when a mirror holds them', () => {
  for (const spec of BACKBONES.filter((b) => b.keras)) {
    const mirror = mirrors.find((m) => fs.existsSync(path.join(m, spec.keras!.top.path)))
    it.runIf(mirror !== undefined)(`${spec.id} classifies the cat and the espresso photos`, async () => {
      const [cat, coffee] = await classifyImageNet(spec.id, [path.join(PHOTOS, 'chelsea.png'), path.join(PHOTOS, 'coffee.png')], {
        home: tempDir(),
        mirror,
        top: 5
      })
      if (!('predictions' in cat) || !('predictions' in coffee)) throw new Error('a photo could not be classified')
      expect(['tabby', 'tiger cat', 'Egyptian cat']).toContain(cat.predictions[0].label)
      expect(coffee.predictions.map((p) => p.label)).toContain('espresso')
    })
  }
})
