// `info` and the app say which engine trains unfrozen layers: the description follows the backend,
// onnxruntime's availability and TRANSFER_STUDIO_TRAIN_STEP, as chooseTrainingStep() decides.
import { afterEach, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend'
import { describeUnfrozenEngine, STEP_ENV } from '../../../src/engine/train/native-step'
import { formatInfo } from '../../../src/cli/format'

afterEach(() => {
  delete process.env[STEP_ENV]
})

const native = { description: 'onnxruntime-node 1.30.0 (CPU, 2 threads)' }

describe('which engine trains unfrozen layers', () => {
  it('on this machine (tfjs cpu gradients, onnxruntime present): the native step for convolutions, and info prints it', async () => {
    const info = await initBackend()
    expect(info.training).toBe('cpu')
    expect(info.unfrozenLayers).toMatch(
      /^native training step on onnxruntime-node 1\.30\.0 \(CPU, \d+ threads?\), convolutions on (blocked kernels \(\d+ channels a block\)|standard kernels \(no blocked ones: .+\)) when a convolution is unfrozen; TensorFlow\.js cpu backend for Dense layers alone$/
    )
    // onnxruntime's blocked (NCHWc) kernels exist on x86-64 (finetune/nchwc.ts).
    if (process.arch === 'x64') expect(info.unfrozenLayers).toMatch(/convolutions on blocked kernels \((8|16) channels a block\)/)
    const text = formatInfo({ ...info, appVersion: '0.1.0', home: '/home', weightsMirror: null })
    expect(text).toContain(`Training: unfrozen layers train on ${info.unfrozenLayers}`)
  })

  it('follows the forcing variable, a native tfjs backend and a missing onnxruntime', () => {
    expect(describeUnfrozenEngine('cpu', native)).toMatch(/^native training step on onnxruntime/)
    process.env[STEP_ENV] = 'tfjs'
    expect(describeUnfrozenEngine('cpu', native)).toBe('TensorFlow.js cpu backend (TRANSFER_STUDIO_TRAIN_STEP=tfjs)')
    process.env[STEP_ENV] = 'native'
    expect(describeUnfrozenEngine('tensorflow', native)).toBe(`native training step on ${native.description} (TRANSFER_STUDIO_TRAIN_STEP=native)`)
    delete process.env[STEP_ENV]
    expect(describeUnfrozenEngine('tensorflow', native)).toBe('TensorFlow.js tensorflow backend (it has native gradients)')
    expect(describeUnfrozenEngine('cpu', { unavailable: 'no library' })).toBe('TensorFlow.js cpu backend (the native training step cannot run: no library)')
  })
})
