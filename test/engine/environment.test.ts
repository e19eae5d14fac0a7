import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { engineEnvironment, environment } from '../../src/engine/environment'
import { studioHome } from '../../src/engine/home'

describe('environment', () => {
  it('reads each variable from the environment it is given, an empty value counting as unset', () => {
    const env = { TRANSFER_STUDIO_HOME: 'h', TRANSFER_STUDIO_WEIGHTS: '', TRANSFER_STUDIO_DEBUG: '1', TRANSFER_STUDIO_PREFIX_RUNNER: 'workers' }
    expect(environment.home(env)).toBe('h')
    expect(environment.weightsMirror(env)).toBeUndefined()
    expect(environment.debug(env)).toBe(true)
    expect(environment.debug({})).toBe(false)
    expect(environment.prefixRunner(env)).toBe('workers')
    expect(studioHome(env)).toBe(path.resolve('h'))
  })

  it('refuses a prefix runner that does not exist, naming the variable', () => {
    expect(() => environment.prefixRunner({ TRANSFER_STUDIO_PREFIX_RUNNER: 'gpu' })).toThrow(
      'TRANSFER_STUDIO_PREFIX_RUNNER=gpu: use one of onnx, workers, main'
    )
  })

  it('gives an engine process its home and keeps the rest', () => {
    expect(engineEnvironment('/data/studio', { PATH: '/bin', TRANSFER_STUDIO_HOME: 'old' }, 'darwin')).toEqual({
      PATH: '/bin',
      TRANSFER_STUDIO_HOME: '/data/studio'
    })
  })

  it("asks glibc's malloc for huge pages on Linux, beside the user's other tunables and never over their own choice", () => {
    expect(engineEnvironment('/h', {}, 'linux').GLIBC_TUNABLES).toBe('glibc.malloc.hugetlb=1')
    expect(engineEnvironment('/h', { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, 'linux').GLIBC_TUNABLES).toBe(
      'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
    )
    expect(engineEnvironment('/h', { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, 'linux').GLIBC_TUNABLES).toBe('glibc.malloc.hugetlb=0')
    expect(engineEnvironment('/h', {}, 'win32').GLIBC_TUNABLES).toBeUndefined()
  })
})
