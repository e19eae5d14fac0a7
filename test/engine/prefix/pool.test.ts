import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend'
import { loadBackbone } from '../../../src/engine/backbones/load'
import { decodeImage } from '../../../src/engine/images/decode'
import { modelInput } from '../../../src/engine/train/pixels'
import { PrefixPool } from '../../../src/engine/prefix/pool'
import { PHOTOS, tempDir, weightsMirror } from '../../helpers'

describe('prefix worker pool', () => {
  it('gives exactly the features the prefix gives in this thread, on every worker', async () => {
    await initBackend()
    const { spec, model } = await loadBackbone('mobilenet_v1_0.25_224', { home: tempDir(), mirror: weightsMirror() })
    const prefix = tf.model({ inputs: model.inputs, outputs: model.getLayer(spec.featureLayer).output })
    const images = await Promise.all(['chelsea.png', 'coffee.png', 'rocket.jpg'].map((f) => decodeImage(path.join(PHOTOS, f), 224)))
    const pixels = Uint8Array.from(images.flatMap((i) => [...i.data]))
    const here = tf.tidy(() => Array.from((prefix.predict(modelInput(pixels, 3, 224, 'tf')) as tf.Tensor).dataSync()))

    const pool = await PrefixPool.create({ model: prefix, size: 224, preprocess: 'tf' }, 2)
    expect(pool?.parallel).toBe(2)
    // Four jobs at once on two workers: both are used, and queueing works.
    const results = await Promise.all([0, 1, 2, 3].map(() => pool!.run(pixels, 3)))
    for (const values of results) expect(Array.from(values)).toEqual(here)
    await pool!.close()
    model.dispose()
  })
})
