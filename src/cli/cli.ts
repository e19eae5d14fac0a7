// The `transfer-studio` command line (contract in DESIGN.md). Each command is a protocol command
// run through the engine's dispatch in this process (a terminal session has no window to protect
// from a crash), so the CLI, the app and the browser host share one command handler.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { backboneSpec } from '../engine/backbones/registry'
import { EngineSession } from '../engine/dispatch'
import { environment } from '../engine/environment'
import { studioHome } from '../engine/home'
import { APP_VERSION } from '../engine/version'
import type { DownloadProgress, EngineEvent, PreprocessMode, TrainEvent } from '../shared/protocol'
import { describeDownload } from '../shared/download-progress'
import type { CommandInputOf, CommandName, CommandResult } from '../shared/results'
import { checkSetting, TRAIN_DEFAULTS, type RangedSetting } from '../shared/train-settings'
import { formatBackbones, formatEvaluation, formatInfo, formatLrFinder, formatPrediction, formatScan, formatTrainEvent } from './format'
import { startServer } from '../server/serve'
import { parseAugment, parseDense, parseFreeze, trainConfigFromFlags, type TrainFlags } from './train-options'
import { stopOnInterrupt } from './interrupt'
import { ProgressReporter, type ProgressMode } from './progress'
import { checkFolderFlags, UsageError, USAGE_EXIT_CODE } from './usage'

const here = path.dirname(fileURLToPath(import.meta.url))
// From a checkout (tsx) this file is src/cli/cli.ts; built, it is out/main/cli.js.
const fromSource = import.meta.url.endsWith('.ts')
const ROOT = path.resolve(here, '..', '..')
const ENGINE = fromSource
  ? { entry: path.join(ROOT, 'src', 'engine', 'process.ts'), execArgv: ['--import', 'tsx'] }
  : { entry: path.join(here, 'engine.js'), execArgv: [] }

/** Errors that already speak to the user; anything else is a bug and keeps its stack in debug mode. */
const USER_ERRORS = new Set([
  'DatasetError',
  'WeightsError',
  'UnknownBackboneError',
  'CorruptCacheError',
  'ImageDecodeError',
  'TrainError',
  'FreezeError',
  'ModelFileError',
  'UnsafeFileError',
  'NotOursError',
  // A value the flags let through but the protocol's schema refuses: the message names the field.
  'ProtocolError',
  'UsageError'
])

/** Errors in what was typed rather than in what happened: exit code 2, as commander's own. */
const USAGE_ERRORS = new Set(['UsageError', 'UnknownBackboneError'])

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

// The input scalings a Keras model may have been trained with, by the names people use for them.
const SCALINGS: Record<string, PreprocessMode> = {
  '0..1': 'unit',
  unit: 'unit',
  '-1..1': 'tf',
  tf: 'tf',
  raw: 'raw',
  '0..255': 'raw',
  caffe: 'caffe',
  torch: 'torch'
}

function scaling(value: string): PreprocessMode {
  const mode = SCALINGS[value]
  if (!mode) throw new InvalidArgumentError(`must be one of ${Object.keys(SCALINGS).join(', ')}`)
  return mode
}

/** "a,b,c", or "@file" with one label per line. */
function labelList(value: string): string[] {
  let text = value
  if (value.startsWith('@')) {
    try {
      text = fs.readFileSync(value.slice(1), 'utf8')
    } catch (error) {
      throw new InvalidArgumentError(`cannot read ${value.slice(1)}: ${(error as Error).message}`)
    }
  }
  const labels = text
    .split(value.startsWith('@') ? /\r?\n/ : ',')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
  if (labels.length < 2) throw new InvalidArgumentError('needs at least two labels')
  return labels
}

/** Download progress on stderr, so stdout stays clean for --json consumers. */
function reportDownload(progress: DownloadProgress): void {
  // On a terminal the line is rewritten in place (ten updates a second); in a log, a line a second and the last.
  if (process.stderr.isTTY) {
    process.stderr.write(`\r${describeDownload(progress)}\x1b[K${progress.done ? '\n' : ''}`)
    return
  }
  const now = Date.now()
  if (!progress.done && now - lastDownloadLine < 1000) return
  lastDownloadLine = now
  warn(describeDownload(progress))
}
let lastDownloadLine = 0

/** The engine, in this process: the same dispatch the app and the browser host reach through the engine process. */
const session = new EngineSession()
let lastRequest = 0

function request<C extends CommandName>(command: CommandInputOf<C>, onEvent: (event: EngineEvent) => void = () => {}): Promise<CommandResult<C>> {
  return session.dispatch(++lastRequest, command, onEvent) as Promise<CommandResult<C>>
}

/** Download progress and notices; the rest of a command's events belong to its caller. */
function reportEvent(event: EngineEvent): void {
  if (event.event === 'download') reportDownload(event.progress)
  else if (event.event === 'notice') warn(event.message)
}

/** A protocol command takes at most this many files at once; more are sent in turns. */
const FILES_PER_COMMAND = 1000

function inTurns<T>(items: T[]): T[][] {
  const turns: T[][] = []
  for (let i = 0; i < items.length; i += FILES_PER_COMMAND) turns.push(items.slice(i, i + FILES_PER_COMMAND))
  return turns
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
      if (!USER_ERRORS.has(err.name) && environment.debug()) warn(err.stack ?? '')
      process.exitCode = USAGE_ERRORS.has(err.name) ? USAGE_EXIT_CODE : 1
    }
  }
}

/** A training setting's flag: its value checked against the range the protocol's schema gives it. */
function setting(name: RangedSetting, flag: string) {
  return (value: string): number => {
    const n = value.trim() === '' ? NaN : Number(value)
    const problem = checkSetting(name, n)
    if (problem) throw new InvalidArgumentError(`${flag} ${problem}`)
    return n
  }
}

const D = TRAIN_DEFAULTS

/** The options that say what to train and how: `train` and `lr-find` share them. */
function withTrainingOptions(command: Command): Command {
  return command
    .option('--data <dir>', 'training images: class folders, train/val/test folders, or CIFAR-10 batches')
    .option('--backbone <id>', 'ImageNet backbone (`info` lists them)')
    .option('--val <dir>', 'validation images (class folders)')
    .option(
      '--val-split <fraction>',
      `share of train held out for validation when there is no validation folder (default: ${D.valSplit})`,
      setting('valSplit', '--val-split')
    )
    .option('--test <dir>', 'test images (class folders)')
    .addOption(
      new Option('--freeze <what>', 'all (the backbone), none, or a layer name: freeze up to and including it')
        .argParser(parseFreeze)
        .default(D.freeze, 'all (the whole backbone)')
    )
    .option('--epochs <n>', `epochs (default: ${D.epochs})`, setting('epochs', '--epochs'))
    .option('--batch-size <n>', `batch size (default: ${D.batchSize})`, setting('batchSize', '--batch-size'))
    .option('--lr <rate>', `learning rate (default: ${D.learningRate})`, setting('learningRate', '--lr'))
    .addOption(new Option('--optimizer <name>', `optimizer (default: ${D.optimizer})`).choices(['adam', 'rmsprop', 'sgd']))
    .option('--momentum <m>', `momentum of sgd (default: ${D.momentum})`, setting('momentum', '--momentum'))
    .option('--augment <list>', 'augment the training images: flip,vflip,rotate[=deg],zoom[=f],shear[=deg],brightness[=f] (default: none)', parseAugment)
    .option(
      '--early-stopping <patience>',
      'stop when val_loss has not improved for this many epochs (best weights restored; default: off)',
      setting('earlyStopping', '--early-stopping')
    )
    .option(
      '--reduce-lr <patience>',
      'divide the learning rate by 10 when val_loss has not improved for this many epochs (default: off)',
      setting('reduceLr', '--reduce-lr')
    )
    .addOption(
      new Option(
        '--bn-statistics <mode>',
        `how unfrozen BatchNormalization layers normalise: frozen (their moving statistics, as Keras' fine-tuning guide advises) or train (batch statistics, moving averages updated) (default: ${D.batchNormStatistics})`
      ).choices(['frozen', 'train'])
    )
    .option(
      '--head-epochs <n>',
      'fine-tune in two phases: the head alone for this many epochs (the whole backbone frozen), then --freeze for the rest of --epochs at --fine-tune-lr (default: one phase)',
      setting('headEpochs', '--head-epochs')
    )
    .option('--fine-tune-lr <rate>', "the second phase's learning rate (default: --lr / 10)", setting('fineTuneLr', '--fine-tune-lr'))
    .addOption(new Option('--pooling <kind>', `how the head pools backbone features (default: ${D.head.pooling})`).choices(['avg', 'flatten']))
    .option('--dense <units>', 'Dense layers of the head, such as 256,128 (default: none)', parseDense)
    .option(
      '--dropout <rate>',
      `dropout after each Dense layer (or after pooling without Dense layers; default: ${D.head.dropout})`,
      setting('dropout', '--dropout')
    )
    .option('--batch-norm', 'BatchNormalization before each Dense layer')
    .option('--no-cache', 'run the frozen layers every epoch instead of caching their outputs (default: cached)')
    .addOption(
      new Option(
        '--head-init <kind>',
        `the classifier's initial weights: zeros (starts from even odds), pytorch, or keras (Glorot, as Keras' Dense) (default: ${D.head.init})`
      ).choices(['zeros', 'pytorch', 'keras'])
    )
    .option('--seed <n>', `seed for the split, initial weights, shuffling, dropout and augmentation (default: ${D.seed})`, setting('seed', '--seed'))
}

export function buildProgram(): Command {
  const program = new Command('transfer-studio')
    .description('Transfer learning on images with ImageNet-pretrained backbones')
    .version(APP_VERSION)
    // A mistake gets one line naming it (and the choices), not the whole help; exit code 2.
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(withHelpHint(message)) })

  program
    .command('info')
    .description('show the compute backend, versions, folders and the backbones on offer')
    .option('--json', 'print one JSON object')
    .action(
      run(async (opts: { json?: boolean }) => {
        const info = {
          ...(await request<'info'>({ command: 'info' })),
          appVersion: APP_VERSION,
          home: studioHome(),
          weightsMirror: environment.weightsMirror() ?? null
        }
        const backbones = await request<'listBackbones'>({ command: 'listBackbones' })
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
        const report = await request<'scan'>({ command: 'scan', dir, valSplit: opts.valSplit, seed: opts.seed }, (event) => {
          if (interactive && event.event === 'scan') process.stderr.write(`\rscanning: ${event.progress.filesSeen} files, ${event.progress.imagesFound} images`)
        })
        if (interactive) process.stderr.write('\n')
        if (opts.json) printJson(report)
        else print(formatScan(report))
      })
    )

  program
    .command('predict')
    .description("classify images with a trained model, or with a backbone's ImageNet classifier")
    .argument('<image...>', 'image files')
    .option('--model <model-dir>', 'a model saved by train')
    .option('--backbone <id>', 'ImageNet backbone (`info` lists them)')
    .option('--top <k>', 'how many classes to show per image', positiveInt('--top'), 5)
    .option('--json', 'print one JSON object per image')
    .action(
      run(async (images: string[], opts: { model?: string; backbone?: string; top: number; json?: boolean }) => {
        if (Boolean(opts.model) === Boolean(opts.backbone)) throw new UsageError('give either --model <model-dir> or --backbone <id>')
        if (opts.backbone) backboneSpec(opts.backbone)
        const results = []
        for (const files of inTurns(images)) {
          results.push(
            ...(opts.model
              ? await request<'predictWithModel'>({ command: 'predictWithModel', model: opts.model, files, top: opts.top })
              : await request<'classifyImageNet'>({ command: 'classifyImageNet', backbone: opts.backbone!, files, top: opts.top }, reportEvent))
          )
        }
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

  withTrainingOptions(program.command('train').description('train a classifier on a folder of labelled images (transfer learning)'))
    .option('--out <model-dir>', 'where to save the model: a new or empty folder, or a model saved earlier (default: the run folder under the studio home)')
    .option('--resume <run-dir>', 'continue a stopped or crashed run from its last completed epoch')
    .option(
      '--from <model-dir>',
      'continue training a saved model (one import-keras made, or train) with its own classifier, as Keras load_model then fit: the data must have its classes; in place of --backbone'
    )
    .option('--json', 'print one JSON object per event')
    .action(
      run(async (opts: TrainFlags & { json?: boolean; resume?: string }) => {
        if (!opts.resume && (!opts.data || !(opts.backbone || opts.from)))
          throw new UsageError('train needs --data <dir> and --backbone <id> or --from <model-dir> (or --resume <run-dir>)')
        // An unknown backbone or a missing folder is a one-line error before anything is scanned.
        if (opts.backbone && !opts.from) backboneSpec(opts.backbone)
        checkFolderFlags(opts)
        const progress = progressReporter(opts.json)
        // What the run said about where it keeps things (closures assign it, so it is held in an object).
        const ended: { runDir?: string; model?: string } = {}
        const onTrainEvent = (event: TrainEvent): void => {
          if (event.event === 'run') ended.runDir = event.runDir
          if (event.event === 'done') ended.model = event.model
          const shown = progress.update(event)
          if (!shown) return
          if (opts.json) return printJson(shown)
          const line = formatTrainEvent(event)
          if (line) progress.line(line)
        }
        // A resumed run saves into its own folder unless --out names a place again (a path read
        // from the run's files is never written to).
        const onEvent = (event: EngineEvent): void => {
          if (event.event === 'train') onTrainEvent(event.data)
          else reportEvent(event)
        }
        const interrupt = stopOnInterrupt({ stop: () => session.stop(), warn })
        try {
          if (opts.resume) await request<'resumeTraining'>({ command: 'resumeTraining', runDir: opts.resume, out: opts.out }, onEvent)
          else await request<'train'>({ command: 'train', config: trainConfigFromFlags(opts) }, onEvent)
        } finally {
          progress.finish()
          interrupt.dispose()
        }
        if (!interrupt.requested) return 0
        // Stopped by Ctrl-C: say what was kept and how to go on; 130 tells scripts the run was interrupted.
        if (ended.model) warn(`Interrupted: the model is saved in ${ended.model}`)
        if (ended.runDir) warn(`The run's state is in ${path.join(ended.runDir, 'state')}; continue it with: transfer-studio train --resume ${ended.runDir}`)
        return 130
      })
    )

  withTrainingOptions(
    program.command('lr-find').description('find a learning rate: a short run with a rising rate, the loss at each, and a suggestion (nothing is saved)')
  )
    .option('--json', 'print the rates, losses and suggestion as one JSON object')
    .action(
      run(async (opts: TrainFlags & { json?: boolean }) => {
        if (!opts.data || !opts.backbone) throw new UsageError('lr-find needs --data <dir> and --backbone <id>')
        backboneSpec(opts.backbone)
        checkFolderFlags(opts)
        // Its one JSON object stays the only thing on stdout: progress goes to stderr as a bar or lines.
        const progress = progressReporter(false)
        const result = await request<'findLearningRate'>({ command: 'findLearningRate', config: trainConfigFromFlags(opts) }, (event) => {
          if (event.event !== 'train') return reportEvent(event)
          if (!progress.update(event.data) || opts.json) return
          const line = event.data.event === 'status' ? null : formatTrainEvent(event.data)
          if (line) progress.line(line)
        }).finally(() => progress.finish())
        if (opts.json) printJson(result)
        else print(formatLrFinder(result))
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
        const report = await request<'evaluateModel'>({ command: 'evaluateModel', model: opts.model, data: opts.data })
        if (opts.json) printJson(report)
        else print(formatEvaluation(report))
      })
    )

  program
    .command('import-keras')
    .description('import a Keras model file (.h5 or .keras) as a model that predict and evaluate use')
    .argument('<file>', 'a Keras model: model.save() .h5 or .keras, or a save_weights() .h5 with --architecture')
    .requiredOption('--preprocess <scaling>', 'how the model expects pixels: 0..1, -1..1, raw (0..255), caffe or torch', scaling)
    .requiredOption('--out <model-dir>', 'where to save the imported model')
    .option('--labels <names>', 'class names in output order, comma-separated or @file with one per line (default 0, 1, …)', labelList)
    .option('--architecture <json>', 'the model.to_json() file of a weights-only .h5')
    .option('--json', 'print the saved metadata as one JSON object')
    .action(
      run(async (file: string, opts: { preprocess: PreprocessMode; out: string; labels?: string[]; architecture?: string; json?: boolean }) => {
        const { json: _json, ...settings } = opts
        const metadata = await request<'importKeras'>({ command: 'importKeras', file, ...settings })
        if (opts.json) return printJson(metadata)
        const source = metadata.source!
        print(`imported ${file} (${source.format}, Keras ${source.kerasVersion ?? 'version not recorded'}) into ${opts.out}`)
        print(`  ${metadata.labels.length} classes, ${metadata.inputSize}x${metadata.inputSize} RGB input, preprocessing "${metadata.preprocess}"`)
      })
    )

  program
    .command('export-keras')
    .description('write a saved model as a Keras HDF5 file (keras.models.load_model reads it)')
    .requiredOption('--model <model-dir>', 'a model saved by train or import-keras')
    .option('--out <file.h5>', 'the Keras file to write (default: model.h5 in the model folder)')
    .action(
      run(async (opts: { model: string; out?: string }) => {
        const { file } = await request<'exportKeras'>({ command: 'exportKeras', model: opts.model, out: opts.out })
        print(`wrote ${file}`)
      })
    )

  program
    .command('serve')
    .description('serve the app to a browser: the same interface as the desktop app, over HTTP and WebSocket')
    .option('--host <address>', 'address to listen on (loopback by default: only this machine can connect)', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', wholeNumber('--port'), 7447)
    .option('--browse <dir...>', 'more folders the folder browser may show (besides your home folder, the studio folder and opened ones)')
    .action(
      run(async (opts: { host: string; port: number; browse?: string[] }) => {
        const server = await startServer({
          host: opts.host,
          port: opts.port,
          browse: opts.browse,
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

/** Progress on stderr: a bar on a terminal, plain lines otherwise; with --json, events on stdout. */
function progressReporter(json: boolean | undefined): ProgressReporter {
  const mode: ProgressMode = json ? 'json' : process.stderr.isTTY ? 'tty' : 'plain'
  return new ProgressReporter(mode, { line: print, progressLine: warn, stream: process.stderr })
}

/** Commander's one-line message, with where to find the options when it does not list them itself. */
function withHelpHint(message: string): string {
  const line = message.trim().replace(/\s*\n\s*/g, ' ')
  return /Allowed choices|Did you mean|must be/.test(line) ? `${line}\n` : `${line} (see --help)\n`
}

try {
  await buildProgram().parseAsync(process.argv)
} catch (error) {
  if (!(error instanceof CommanderError)) throw error
  // Help and version end here too, with code 0; a usage mistake (already printed) with 2.
  process.exitCode = error.exitCode === 0 ? 0 : USAGE_EXIT_CODE
}
