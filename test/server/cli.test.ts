import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { DATA, ODD, PHOTOS, runStudio, tempDir, weightsMirror } from '../helpers'

let env: NodeJS.ProcessEnv

beforeAll(() => {
  env = { ...process.env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: weightsMirror() }
})

const studio = (...args: string[]) => runStudio(env, args)

describe('transfer-studio command line', () => {
  it('info --json reports the backend, versions and folders', () => {
    const { code, lines } = studio('info', '--json')
    expect(code).toBe(0)
    expect(lines).toHaveLength(1)
    const info = JSON.parse(lines[0])
    expect(info).toMatchObject({ tfjsVersion: '4.22.0', home: env.TRANSFER_STUDIO_HOME, weightsMirror: env.TRANSFER_STUDIO_WEIGHTS })
    expect(['wasm', 'tensorflow']).toContain(info.inference)
    expect(typeof info.cpuThreads).toBe('number')
    expect(info).toHaveProperty('gpu')
  })

  it('scan --json prints the dataset report as one JSON object', () => {
    const { code, lines } = studio('scan', path.join(DATA, 'hymenoptera'), '--json')
    expect(code).toBe(0)
    expect(lines).toHaveLength(1)
    const report = JSON.parse(lines[0])
    expect(report.classes).toEqual(['ants', 'bees'])
    expect(report.splits.map((s: { total: number }) => s.total)).toEqual([245, 153])
  })

  it('scan prints a table for people', () => {
    const { code, stdout } = studio('scan', path.join(DATA, 'mini', 'weather'))
    expect(code).toBe(0)
    expect(stdout).toContain('4 classes, 80 images')
    expect(stdout).toMatch(/cloudy\s+15\s+5/)
    expect(stdout).toContain('Validation: the validation folder')
  })

  it('scan fails with a plain message and exit code 1 on a missing folder', () => {
    const missing = path.join(DATA, 'no-such-folder')
    const { code, stdout, stderr } = studio('scan', missing, '--json')
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr.trim()).toBe(`error: Dataset folder not found: ${missing}`)
  })

  it('scan refuses a folder without class folders, saying how to lay it out', () => {
    const { code, stderr } = studio('scan', ODD)
    expect(code).toBe(1)
    expect(stderr).toContain(`error: No class folders in ${ODD}: put each class's images in a sub-folder named after the class`)
    expect(stderr).not.toContain('    at ')
  })

  it('predict --json prints one line per image with the top-k ImageNet classes', () => {
    const { code, lines } = studio('predict', '--backbone', 'mobilenet_v1_0.75_224', '--top', '3', '--json', path.join(PHOTOS, 'chelsea.png'), path.join(PHOTOS, 'coffee.png'))
    expect(code).toBe(0)
    expect(lines).toHaveLength(2)
    const [cat, coffee] = lines.map((l) => JSON.parse(l))
    expect(cat.file).toBe(path.join(PHOTOS, 'chelsea.png'))
    expect(cat.predictions).toHaveLength(3)
    expect(['tabby', 'tiger cat', 'Egyptian cat']).toContain(cat.predictions[0].label)
    expect(coffee.predictions[0]).toEqual({ label: 'espresso', probability: expect.any(Number) })
  })

  it('predict goes on past a bad file, names it on stderr, and exits 1', () => {
    const lfs = path.join(ODD, 'git-lfs-pointer-named-jpg.jpg')
    const { code, lines, stderr } = studio('predict', '--backbone', 'mobilenet_v1_0.25_224', '--json', lfs, path.join(PHOTOS, 'coffee.png'))
    expect(code).toBe(1)
    expect(stderr).toContain(`error: ${lfs}: Git LFS pointer, not the image itself`)
    expect(JSON.parse(lines[0])).toEqual({ file: lfs, error: expect.stringContaining('Git LFS pointer') })
    expect(JSON.parse(lines[1]).predictions[0].label).toBe('espresso')
  })

  it('predict rejects an unknown backbone and a bad --top with usage errors', () => {
    const unknown = studio('predict', '--backbone', 'vgg99', path.join(PHOTOS, 'coffee.png'))
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain("argument 'vgg99' is invalid. Allowed choices are mobilenet_v1_0.25_224")
    const top = studio('predict', '--backbone', 'resnet50', '--top', '0', path.join(PHOTOS, 'coffee.png'))
    expect(top.code).toBe(1)
    expect(top.stderr).toContain('--top must be a whole number of at least 1')
  })

  it('predict says which URL failed when weights cannot be fetched', () => {
    const saved = env
    env = { ...env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: path.join(tempDir(), 'empty-mirror') }
    const { code, stderr } = studio('predict', '--backbone', 'mobilenet_v1_0.25_224', path.join(PHOTOS, 'coffee.png'))
    env = saved
    expect(code).toBe(1)
    expect(stderr).toMatch(/^error: Could not get the weights of mobilenet_v1_0.25_224 from file:\/\/.*empty-mirror\/mobilenet_v1_0.25_224\/model.json: .* does not exist\. Without internet access/)
  })
})
