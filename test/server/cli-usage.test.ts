// Mistakes in a command line: one line saying what is wrong (and the choices), exit code 2, never
// the help text; and the help text stating every default in words.
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { DATA, runStudio, tempDir, weightsMirror } from '../helpers'
import { TRAIN_DEFAULTS } from '../../src/shared/train-settings'

// Each case starts the CLI (seconds each, minutes on a loaded machine): no default timeout.
const SLOW = 900_000

let env: NodeJS.ProcessEnv
const studio = (...args: string[]) => runStudio(env, args)
const weather = path.join(DATA, 'mini', 'weather')

beforeAll(() => {
  env = { ...process.env, TRANSFER_STUDIO_HOME: tempDir(), TRANSFER_STUDIO_WEIGHTS: weightsMirror() }
})

/** Exactly one line on stderr, nothing on stdout, exit code 2. */
function expectOneLineUsageError(result: ReturnType<typeof studio>, line: string | RegExp): void {
  expect(result.stdout).toBe('')
  expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1)
  if (typeof line === 'string') expect(result.stderr).toBe(`${line}\n`)
  else expect(result.stderr).toMatch(line)
  expect(result.stderr).not.toContain('Usage:')
  expect(result.code).toBe(2)
}

describe('usage errors', () => {
  it(
    'a missing folder is named with its flag, before any backbone is loaded',
    () => {
      const missing = path.join(DATA, 'no-such-folder')
      expectOneLineUsageError(studio('train', '--data', missing, '--backbone', 'mobilenet_v1_0.25_224'), `error: --data ${missing}: no such folder`)
      expectOneLineUsageError(
        studio('lr-find', '--data', weather, '--test', missing, '--backbone', 'mobilenet_v1_0.25_224'),
        `error: --test ${missing}: no such folder`
      )
    },
    SLOW
  )

  it(
    'an unknown backbone lists the ones that exist',
    () => {
      expectOneLineUsageError(
        studio('train', '--data', weather, '--backbone', 'resnet51'),
        /^error: Unknown backbone "resnet51"\. Known backbones: mobilenet_v1_0\.25_224, .*resnet50.*\n$/
      )
    },
    SLOW
  )

  it(
    'a bad value says what the flag takes; a bad choice lists the choices',
    () => {
      expectOneLineUsageError(
        studio('train', '--epochs', 'ten'),
        "error: option '--epochs <n>' argument 'ten' is invalid. --epochs must be a whole number from 1 to 10000"
      )
      expectOneLineUsageError(
        studio('train', '--optimizer', 'adamw'),
        "error: option '--optimizer <name>' argument 'adamw' is invalid. Allowed choices are adam, rmsprop, sgd."
      )
      expectOneLineUsageError(
        studio('train', '--bn-statistics', 'moving'),
        "error: option '--bn-statistics <mode>' argument 'moving' is invalid. Allowed choices are frozen, train."
      )
    },
    SLOW
  )

  it(
    'an unknown option or command is one line, with a suggestion or where to look',
    () => {
      expectOneLineUsageError(studio('train', '--epoch', '3'), "error: unknown option '--epoch' (Did you mean --epochs?)")
      expectOneLineUsageError(studio('trian'), "error: unknown command 'trian' (Did you mean train?)")
      expectOneLineUsageError(studio('train', '--data'), "error: option '--data <dir>' argument missing (see --help)")
    },
    SLOW
  )

  it(
    'train without data or backbone says what it needs',
    () => {
      expectOneLineUsageError(
        studio('train', '--epochs', '2'),
        'error: train needs --data <dir> and --backbone <id> or --from <model-dir> (or --resume <run-dir>)'
      )
    },
    SLOW
  )
})

describe('train --help', () => {
  it(
    'states every default in words, from the schema the engine uses',
    () => {
      const { stdout, stderr, code } = studio('train', '--help')
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
      // Commander wraps long descriptions: join the lines of each option before reading them.
      const help = stdout.replace(/\n\s{20,}/g, ' ')
      const option = (flag: string): string => help.split('\n').find((l) => l.trimStart().startsWith(flag)) ?? ''
      expect(option('--freeze')).toContain('(default: all (the whole backbone))')
      expect(help).not.toContain('{"kind"')
      expect(option('--epochs')).toContain(`(default: ${TRAIN_DEFAULTS.epochs})`)
      expect(option('--batch-size')).toContain(`(default: ${TRAIN_DEFAULTS.batchSize})`)
      expect(option('--lr')).toContain(`(default: ${TRAIN_DEFAULTS.learningRate})`)
      expect(option('--val-split')).toContain(`(default: ${TRAIN_DEFAULTS.valSplit})`)
      expect(option('--optimizer')).toContain(`(default: ${TRAIN_DEFAULTS.optimizer})`)
      expect(option('--seed')).toContain(`(default: ${TRAIN_DEFAULTS.seed})`)
      // Every option that takes a value says what happens without it.
      const valued = help.split('\n').filter((l) => /^\s+--[a-z-]+ <[^>]+>/.test(l) && !/^\s+--(data|backbone|from|val|test|resume) /.test(l))
      expect(valued.length).toBeGreaterThan(15)
      for (const line of valued) expect(line, line).toMatch(/default/)
    },
    SLOW
  )
})
