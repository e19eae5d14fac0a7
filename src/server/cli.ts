// The `transfer-studio` command line (contract in DESIGN.md). Each command runs the engine in
// this process: a terminal session has no window to protect from a crash.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, InvalidArgumentError, Option } from 'commander'
import { backboneSpec } from '../engine/backbones/registry'
import { classifyImageNet, engineInfo, evaluateModel, listBackbones, predictWithModel, scanDataset, train } from '../engine/api'
import { studioHome } from '../engine/home'
import { APP_VERSION } from '../engine/version'
import type { DownloadProgress, TrainEvent } from '../shared/protocol'
import { formatBackbones, formatEvaluation, formatInfo, formatPrediction, formatScan, formatTrainEvent } from './format'
import { startServer } from './serve'
import { parseAugment, parseDense, parseFreeze, trainConfigFromFlags, type TrainFlags } from './train-options'

const here = path.dirname(fileURLToPath(import.meta.url))
// From a checkout (tsx) this file is src/server/cli.ts; built, it is out/main/cli.js.
const fromSource = import.meta.url.endsWith('.ts')
const ROOT = path.resolve(here, '..', '..')
const ENGINE = fromSource
  ? { entry: path.join(ROOT, 'src', 'engine', 'process.ts'), execArgv: ['--import', 'tsx'] }
  : { entry: path.join(here, 'engine.js'), execArgv: [] }

/** Errors that already speak to the user; anything else is a bug and keeps its stack in debug mode. */
const USER_ERRORS = new Set(['DatasetError', 'WeightsError', 'UnknownBackboneError', 'CorruptCacheError', 'ImageDecodeError', 'TrainError', 'FreezeError', 'ModelFileError'])

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

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!(n > 0)) throw new InvalidArgumentError(`${name} must be a number above 0`)
    return n
  }
}

function wholeNumber(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`)
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
    .description('show the compute backend, versions, folders and the backbones on offer')
    .option('--json', 'print one JSON object')
    .action(
      run(async (opts: { json?: boolean }) => {
        const info = { ...(await engineInfo()), appVersion: APP_VERSION, home: studioHome(), weightsMirror: process.env.TRANSFER_STUDIO_WEIGHTS || null }
        const backbones = await listBackbones()
        if (opts.json) printJson({ ...info, backbones })
        else print(`${formatInfo(info)}\n${formatBackbones(backbones)}`)
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
    .description('classify images with a trained model, or with a backbone\'s ImageNet classifier')
    .argument('<image...>', 'image files')
    .option('--model <model-dir>', 'a model saved by train')
    .option('--backbone <id>', 'ImageNet backbone (`info` lists them)')
    .option('--top <k>', 'how many classes to show per image', positiveInt('--top'), 5)
    .option('--json', 'print one JSON object per image')
    .action(
      run(async (images: string[], opts: { model?: string; backbone?: string; top: number; json?: boolean }) => {
        if (Boolean(opts.model) === Boolean(opts.backbone)) {
          warn('error: give either --model <model-dir> or --backbone <id>')
          return 1
        }
        if (opts.backbone) backboneSpec(opts.backbone)
        const results = opts.model
          ? await predictWithModel(opts.model, images, opts.top)
          : await classifyImageNet(opts.backbone!, images, { top: opts.top, onProgress: reportDownload, onNotice: warn })
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

  program
    .command('train')
    .description('train a classifier on a folder of labelled images (transfer learning)')
    .option('--data <dir>', 'training images: class folders, train/val/test folders, or CIFAR-10 batches')
    .option('--backbone <id>', 'ImageNet backbone (`info` lists them)')
    .option('--val <dir>', 'validation images (class folders)')
    .option('--val-split <fraction>', 'share of train held out for validation when there is no validation folder', fraction)
    .option('--test <dir>', 'test images (class folders)')
    .option('--freeze <what>', 'all (the backbone), none, or a layer name: freeze up to and including it', parseFreeze, { kind: 'all' })
    .option('--epochs <n>', 'epochs', positiveInt('--epochs'))
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'))
    .option('--lr <rate>', 'learning rate', positiveNumber('--lr'))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'rmsprop', 'sgd']))
    .option('--momentum <m>', 'momentum of sgd', Number)
    .option('--augment <list>', 'augment the training images: flip,vflip,rotate[=deg],zoom[=f],shear[=deg],brightness[=f]', parseAugment)
    .option('--early-stopping <patience>', 'stop when val_loss has not improved for this many epochs (best weights restored)', wholeNumber('--early-stopping'))
    .option('--reduce-lr <patience>', 'divide the learning rate by 10 when val_loss has not improved for this many epochs', wholeNumber('--reduce-lr'))
    .addOption(new Option('--pooling <kind>', 'how the head pools backbone features').choices(['avg', 'flatten']))
    .option('--dense <units>', 'Dense layers of the head, such as 256,128', parseDense)
    .option('--dropout <rate>', 'dropout after each Dense layer (or after pooling without Dense layers)', Number)
    .option('--batch-norm', 'BatchNormalization before each Dense layer')
    .option('--no-cache', 'run the frozen layers every epoch instead of caching their outputs')
    .option('--seed <n>', 'seed for the split, initial weights, shuffling, dropout and augmentation', wholeNumber('--seed'))
    .option('--out <model-dir>', 'where to save the model (default: a run folder under the studio home)')
    .option('--resume <run-dir>', 'continue a stopped or crashed run from its last completed epoch')
    .option('--json', 'print one JSON object per event')
    .action(
      run(async (opts: TrainFlags & { json?: boolean; resume?: string }) => {
        if (!opts.resume && (!opts.data || !opts.backbone)) {
          warn('error: train needs --data <dir> and --backbone <id> (or --resume <run-dir>)')
          return 1
        }
        const controller = new AbortController()
        // The first Ctrl-C stops after the current batch and saves the best model so far.
        process.once('SIGINT', () => {
          warn('stopping after this batch; the best model so far will be saved (Ctrl-C again to quit at once)')
          controller.abort()
          process.once('SIGINT', () => process.exit(130))
        })
        const onEvent = (event: TrainEvent): void => {
          if (opts.json) {
            if (event.event !== 'batch' && !(event.event === 'status' && event.total)) printJson(event)
            return
          }
          const line = formatTrainEvent(event)
          if (line) print(line)
        }
        await train(opts.resume ? null : trainConfigFromFlags(opts), { onEvent, signal: controller.signal, resume: opts.resume })
      })
    )

  program
    .command('evaluate')
    .description('score a trained model on a dataset: accuracy, loss, confusion matrix, per-class metrics, mistakes')
    .requiredOption('--model <model-dir>', 'a model saved by train')
    .requiredOption('--data <dir>', 'images in class folders (its test split, else its validation split, else all of it)')
    .option('--json', 'print one JSON object')
    .action(
      run(async (opts: { model: string; data: string; json?: boolean }) => {
        const report = await evaluateModel(opts.model, opts.data)
        if (opts.json) printJson(report)
        else print(formatEvaluation(report))
      })
    )

  program
    .command('serve')
    .description('serve the app to a browser: the same interface as the desktop app, over HTTP and WebSocket')
    .option('--host <address>', 'address to listen on (loopback by default: only this machine can connect)', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', wholeNumber('--port'), 7447)
    .action(
      run(async (opts: { host: string; port: number }) => {
        const server = await startServer({
          host: opts.host,
          port: opts.port,
          rendererDir: path.join(ROOT, 'out', 'renderer'),
          engine: ENGINE,
          home: studioHome()
        })
        print(`Transfer Studio is serving at ${server.url}`)
        if (opts.host !== '127.0.0.1' && opts.host !== 'localhost' && opts.host !== '::1') {
          warn(`warning: listening on ${opts.host}, not only this machine: anyone with the token can use it`)
        }
        await new Promise<void>((resolve) => process.once('SIGINT', () => void server.close().then(resolve)))
      })
    )

  return program
}

await buildProgram().parseAsync(process.argv)
