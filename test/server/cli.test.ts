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
    const { code, lines } = studio(
      'predict',
      '--backbone',
      'mobilenet_v1_0.75_224',
      '--top',
      '3',
      '--json',
      path.join(PHOTOS, 'chelsea.png'),
      path.join(PHOTOS, 'coffee.png')
    )
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

  it('info lists every backbone with its input, preprocessing, parameters, size, download state and licence', () => {
    const text = studio('info')
    expect(text.code).toBe(0)
    const lines = text.stdout.split('\n')
    const row = (id: string) => lines.find((l) => l.trimStart().startsWith(`${id} `))
    expect(row('vgg16')).toMatch(/^ {2}vgg16 +· 224x224 · preprocess caffe · 138\.4 M parameters \(14\.7 M without top\) · 58\.9 MB to download · CC BY 4\.0/)
    expect(row('densenet121')).toMatch(/224x224 · preprocess torch · 8\.1 M parameters \(7\.0 M without top\) · 29\.1 MB to download · BSD-3-Clause/)
    expect(row('mobilenet_v2_1.0_224')).toMatch(/preprocess tf +· 3\.5 M parameters \(2\.3 M without top\) · 9\.4 MB to download · Apache-2\.0/)
    expect(row('densenet201')).toContain('BSD-3-Clause')
    const json = JSON.parse(studio('info', '--json').lines[0])
    expect(json.backbones.map((b: { id: string }) => b.id)).toEqual([
      'mobilenet_v1_0.25_224',
      'mobilenet_v1_0.50_224',
      'mobilenet_v1_0.75_224',
      'mobilenet_v1_1.0_224',
      'resnet50',
      'densenet121',
      'densenet201',
      'vgg16',
      'mobilenet_v2_1.0_224'
    ])
    expect(json.backbones.find((b: { id: string }) => b.id === 'densenet201')).toMatchObject({
      inputSize: 224,
      preprocess: 'torch',
      parameters: 20_242_984,
      featureParameters: 18_321_984,
      downloadBytes: 74_836_368,
      weights: 'keras-h5',
      cached: false
    })
  })

  it('an unknown backbone is one line naming the backbones that exist, exit code 2', () => {
    const known =
      'Known backbones: mobilenet_v1_0.25_224, mobilenet_v1_0.50_224, mobilenet_v1_0.75_224, mobilenet_v1_1.0_224, resnet50, densenet121, densenet201, vgg16, mobilenet_v2_1.0_224'
    const predict = studio('predict', '--backbone', 'vgg19', path.join(PHOTOS, 'coffee.png'))
    expect(predict.code).toBe(2)
    expect(predict.stderr).toBe(`error: Unknown backbone "vgg19". ${known}\n`)
    const trained = studio('train', '--data', path.join(DATA, 'mini', 'weather'), '--backbone', 'densenet', '--epochs', '1')
    expect(trained.code).toBe(2)
    expect(trained.stderr).toBe(`error: Unknown backbone "densenet". ${known}\n`)
  })

  it('predict rejects a bad --top with a usage error', () => {
    const top = studio('predict', '--backbone', 'resnet50', '--top', '0', path.join(PHOTOS, 'coffee.png'))
    expect(top.code).toBe(2)
    expect(top.stderr).toContain('--top must be a whole number of at least 1')
  })

  it('predict says which URL failed when weights cannot be fetched', () => {
    const saved = env
    env = { ...env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: path.join(tempDir(), 'empty-mirror') }
    const { code, stderr } = studio('predict', '--backbone', 'mobilenet_v1_0.25_224', path.join(PHOTOS, 'coffee.png'))
    env = saved
    expect(code).toBe(1)
    expect(stderr).toMatch(
      /^error: Could not get the weights of mobilenet_v1_0.25_224 from file:\/\/.*empty-mirror\/mobilenet_v1_0.25_224\/model.json: .* does not exist\. Without internet access/
    )
  })
})
