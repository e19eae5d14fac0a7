import { createRequire } from 'node:module'
import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { initBackend } from '../../src/engine/backend'

const require = createRequire(import.meta.url)
const loads = (pkg: string) => {
  try {
    require(pkg)
    return true
  } catch {
    return false
  }
}

describe('compute backend', () => {
  it('uses native TensorFlow when it loads, otherwise wasm for inference and cpu for gradients, and says why', async () => {
    const info = await initBackend()
    expect(info.tfjsVersion).toBe(tf.version.tfjs)
    expect(info.cpuThreads).toBeGreaterThan(0)
    if (loads('@tensorflow/tfjs-node-gpu') || loads('@tensorflow/tfjs-node')) {
      expect(info.inference).toBe('tensorflow')
      expect(info.training).toBe('tensorflow')
    } else {
      expect(info).toMatchObject({ inference: 'wasm', training: 'cpu', provider: 'fallback', gpu: null })
      expect(tf.getBackend()).toBe('wasm')
      expect(info.notes).toHaveLength(2)
      expect(info.notes[0]).toMatch(/^@tensorflow\/tfjs-node-gpu not in use: /)
      expect(info.notes[1]).toMatch(/^@tensorflow\/tfjs-node not in use: /)
      // onnxruntime-node is a regular dependency with its CPU library inside the npm package.
      expect(info.frozenLayers).toMatch(/^onnxruntime-node 1\.30\.0 \(CPU, \d+ threads?\)$/)
    }
  })

  it('answers the same on every call', async () => {
    expect(await initBackend()).toBe(await initBackend())
  })

  it('has gradients on the training backend', async () => {
    const info = await initBackend()
    tf.setBackend(info.training)
    const grad = tf.grad((x: tf.Tensor) => x.square().sum())(tf.tensor1d([3]))
    expect(Array.from(await grad.data())).toEqual([6])
    tf.setBackend(info.inference)
  })
})
