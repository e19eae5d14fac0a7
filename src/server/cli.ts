// The `transfer-studio` command line (contract in DESIGN.md). Each command runs the engine in
// this process: a terminal session has no window to protect from a crash.
import { Command, InvalidArgumentError, Option } from 'commander'
import { BACKBONES } from '../engine/backbones/registry'
import { classifyImageNet, engineInfo, scanDataset } from '../engine/api'
import { studioHome } from '../engine/home'
import { APP_VERSION } from '../engine/version'
import type { DownloadProgress } from '../shared/protocol'
import { formatInfo, formatPrediction, formatScan } from './format'

/** Errors that already speak to the user; anything else is a bug and keeps its stack in debug mode. */
const USER_ERRORS = new Set(['DatasetError', 'WeightsError', 'CorruptCacheError', 'ImageDecodeError'])

const print = (line: string): void => void process.stdout.write(`${line}\n`)
const printJson = (value: unknown): void => print(JSON.stringify(value))
const warn = (line: string): void => void process.stderr.write(`${line}\n`)

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1`)
    return n
  }
}

function fraction(value: string): number {
  const n = Number(value)
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('must be a number between 0 and 1, such as 0.2')
  return n
}

/** Download progress on stderr, so stdout stays clean for --json consumers. */
function reportDownload(progress: DownloadProgress): void {
  const total = progress.totalBytes ? ` of ${(progress.totalBytes / 1e6).toFixed(1)} MB` : ''
  warn(`downloading ${progress.backbone}: ${(progress.bytes / 1e6).toFixed(1)} MB${total}`)
}

// Commander hands each action its positional arguments and options untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function run<A extends any[]>(action: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    try {
      process.exitCode = (await action(...args)) ?? 0
    } catch (error) {
      const err = error as Error
      warn(`error: ${err.message}`)
      if (!USER_ERRORS.has(err.name) && process.env.TRANSFER_STUDIO_DEBUG) warn(err.stack ?? '')
      process.exitCode = 1
    }
  }
}

export function buildProgram(): Command {
  const program = new Command('transfer-studio')
    .description('Transfer learning on images with ImageNet-pretrained backbones')
    .version(APP_VERSION)
    .showHelpAfterError()

  program
    .command('info')
    .description('show the compute backend, versions and folders in use')
    .option('--json', 'print one JSON object')
    .action(
      run(async (opts: { json?: boolean }) => {
        const info = { ...(await engineInfo()), appVersion: APP_VERSION, home: studioHome(), weightsMirror: process.env.TRANSFER_STUDIO_WEIGHTS || null }
        if (opts.json) printJson(info)
        else print(formatInfo(info))
      })
    )

  program
    .command('scan')
    .description('list the classes, splits and images of a dataset folder, and every file skipped with its reason')
    .argument('<dataset-dir>', 'folder with class folders, train/val/test folders, or CIFAR-10 binary batches')
    .option('--val-split <fraction>', 'validation share of train when there is no validation folder', fraction)
    .option('--seed <n>', 'seed of the validation split', positiveInt('--seed'))
    .option('--json', 'print one JSON object')
    .action(
      run(async (dir: string, opts: { json?: boolean; valSplit?: number; seed?: number }) => {
        const interactive = !opts.json && process.stderr.isTTY
        const report = await scanDataset(dir, {
          valSplit: opts.valSplit,
          seed: opts.seed,
          onProgress: interactive ? (p) => process.stderr.write(`\rscanning: ${p.filesSeen} files, ${p.imagesFound} images`) : undefined
        })
        if (interactive) process.stderr.write('\n')
        if (opts.json) printJson(report)
        else print(formatScan(report))
      })
    )

  program
    .command('predict')
    .description('classify images with a backbone\'s ImageNet classifier')
    .argument('<image...>', 'image files')
    .addOption(new Option('--backbone <id>', 'ImageNet backbone').choices(BACKBONES.map((b) => b.id)).makeOptionMandatory())
    .option('--top <k>', 'how many classes to show per image', positiveInt('--top'), 5)
    .option('--json', 'print one JSON object per image')
    .action(
      run(async (images: string[], opts: { backbone: string; top: number; json?: boolean }) => {
        const results = await classifyImageNet(opts.backbone, images, {
          top: opts.top,
          onProgress: reportDownload,
          onNotice: warn
        })
        let failed = 0
        for (const result of results) {
          if ('error' in result) {
            failed++
            warn(`error: ${result.file}: ${result.error}`)
          }
          if (opts.json) printJson(result)
          else print(formatPrediction(result))
        }
        return failed > 0 ? 1 : 0
      })
    )

  return program
}

await buildProgram().parseAsync(process.argv)
