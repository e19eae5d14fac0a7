import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { evaluateModel } from '../../src/engine/inference/saved-model'
import { train } from '../../src/engine/train/trainer'
import { DATA, tempDir, trainConfig, weightsMirror } from '../helpers'

const weather = path.join(DATA, 'mini', 'weather')

afterEach(() => {
  delete process.env.TRANSFER_STUDIO_PREFIX_RUNNER
})

describe('scoring a saved model', () => {
  it('gives the same report with its layers on onnxruntime as on tfjs alone', async () => {
    const out = path.join(tempDir(), 'model')
    // A head with a hidden Dense layer and dropout: they run on onnxruntime too (all but the last layer do).
    await train(trainConfig({ data: weather, backbone: 'mobilenet_v1_0.25_224', epochs: 2, head: { dense: [{ units: 16, dropout: 0.2 }] }, out }), {
      home: tempDir(),
      mirror: weightsMirror()
    })
    const fast = await evaluateModel(out, weather)
    process.env.TRANSFER_STUDIO_PREFIX_RUNNER = 'main'
    const reference = await evaluateModel(out, weather)

    expect(fast.confusion).toEqual(reference.confusion)
    expect(fast.accuracy).toBe(reference.accuracy)
    expect(fast.misclassified.map((m) => m.file)).toEqual(reference.misclassified.map((m) => m.file))
    expect(Math.abs(fast.loss - reference.loss)).toBeLessThan(1e-4)
    expect(fast.confusion.flat().reduce((a, b) => a + b, 0)).toBe(20)
  })
})
