import { createRequire } from 'node:module'
import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { initBackend } from '../../src/engine/backend'

const require = createRequire(import.meta.url)
/** What happens when the engine requires `pkg` here: it loads, it is absent, or it is installed but broken. */
const probe = (pkg: string): 'loads' | 'absent' | 'broken' => {
  try {
    require.resolve(pkg)
  } catch {
    return 'absent'
  }
  try {
    require(pkg)
    return 'loads'
  } catch {
    return 'broken'
  }
}
const NATIVE = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const

describe('compute backend', () => {
  it('uses native TensorFlow when it loads, otherwise wasm for inference and cpu for gradients, and says why', async () => {
    const info = await initBackend()
    expect(info.tfjsVersion).toBe(tf.version.tfjs)
    expect(info.cpuThreads).toBeGreaterThan(0)
    const states = NATIVE.map(probe)
    const native = states.indexOf('loads')
    if (native >= 0) {
      expect(info).toMatchObject({ inference: 'tensorflow', training: 'tensorflow', provider: native === 0 ? 'tfjs-node-gpu' : 'tfjs-node' })
      expect(info.notes).toHaveLength(native)
    } else {
      expect(info).toMatchObject({ inference: 'wasm', training: 'cpu', provider: 'fallback', gpu: null })
      expect(tf.getBackend()).toBe('wasm')
      // onnxruntime-node is a regular dependency with its CPU library inside the npm package.
      expect(info.frozenLayers).toMatch(/^onnxruntime-node 1\.30\.0 \(CPU, \d+ threads?\)$/)
      expect(info.notes).toHaveLength(2)
    }
    // Each native package tried before the one in use says why it was passed over, in words that
    // match what is on this disk (absent, or installed without libtensorflow).
    NATIVE.slice(0, native >= 0 ? native : NATIVE.length).forEach((pkg, i) => {
      expect(info.notes[i]).toMatch(new RegExp(`^${pkg.replace('/', '\\/')} not in use: `))
      if (states[i] === 'absent') expect(info.notes[i]).toMatch(/not installed/)
      else expect(info.notes[i]).not.toMatch(/not installed/)
    })
  })

  it('chooses once: a later call returns the first answer and leaves the current backend alone', async () => {
    const first = await initBackend()
    expect(initBackend()).toBe(initBackend())
    // Choosing again would switch to the inference backend; a caller's switch must survive.
    tf.setBackend('cpu')
    expect(await initBackend()).toBe(first)
    expect(tf.getBackend()).toBe('cpu')
    tf.setBackend(first.inference)
  })

  it('has gradients on the training backend', async () => {
    const info = await initBackend()
    tf.setBackend(info.training)
    const grad = tf.grad((x: tf.Tensor) => x.square().sum())(tf.tensor1d([3]))
    expect(Array.from(await grad.data())).toEqual([6])
    tf.setBackend(info.inference)
  })
})
