// Whether the convolutions that train run on onnxruntime's blocked kernels is decided once by a
// probe; when they cannot, `info` and the trainer's notice say why instead of nothing.
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { Ort } from '../../../src/engine/onnx-runtime'
import { ort } from './reference'

// The probe's answer is kept for the process: each test gets the module afresh.
beforeEach(() => vi.resetModules())
const fresh = () => import('../../../src/engine/finetune/nchwc')

describe('the blocked-kernel probe', () => {
  it.runIf(process.arch === 'x64')('finds the block on x86-64 and says so', async () => {
    const { probeNchwc, describeNchwc, nchwcBlock } = await fresh()
    const runtime = await ort()
    const found = await probeNchwc(runtime)
    expect(found).toEqual({ block: expect.any(Number) })
    expect([8, 16]).toContain(await nchwcBlock(runtime))
    expect(describeNchwc(found)).toMatch(/^, convolutions on blocked kernels \((8|16) channels a block\)$/)
  })

  it('names the reason when onnxruntime cannot run them (as on ARM, which has no ReorderInput)', async () => {
    const { probeNchwc, describeNchwc, nchwcBlock } = await fresh()
    const runtime = {
      ...(await ort()),
      InferenceSession: {
        create: () => Promise.reject(new Error("Could not find an implementation for ReorderInput(1) node with name 'nchwc_in_0'\nmore detail"))
      }
    } as unknown as Ort
    expect(await nchwcBlock(runtime)).toBeNull()
    expect(describeNchwc(await probeNchwc(runtime))).toBe(
      ", convolutions on standard kernels (no blocked ones: onnxruntime could not run them here (Could not find an implementation for ReorderInput(1) node with name 'nchwc_in_0'))"
    )
  })
})
