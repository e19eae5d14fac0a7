// The folders a user opened, and nothing else: every path a client names is resolved (symbolic
// links and `..` included) and must land inside one of them.
import fs from 'node:fs/promises'
import path from 'node:path'
import { EngineCommand, describeSchemaError, type EngineCommandInput } from '../shared/protocol'

export class PathRefused extends Error {
  override name = 'PathRefused'
}

export class AllowedFolders {
  private readonly roots = new Set<string>()

  constructor(always: string[] = []) {
    for (const root of always) this.roots.add(path.resolve(root))
  }

  /** Records a folder the user chose; returns its real path. */
  async open(dir: string): Promise<string> {
    const real = await realFolder(dir)
    this.roots.add(real)
    return real
  }

  /** Every opened folder (and those always allowed). */
  list(): string[] {
    return [...this.roots]
  }

  /** The real path of `target` if it lies inside an opened folder; it may not exist yet (an output). */
  async check(target: string): Promise<string> {
    const absolute = path.resolve(target)
    const real = await realpathOfExisting(absolute)
    for (const root of this.roots) {
      const realRoot = await fs.realpath(root).catch(() => root)
      if (real === realRoot || real.startsWith(realRoot + path.sep)) return real
    }
    throw new PathRefused(`Refused: ${target} is outside the folders you opened`)
  }
}

async function existingFile(file: string | undefined): Promise<void> {
  if (file === undefined) return
  const stat = await fs.stat(path.resolve(file)).catch(() => null)
  if (!stat?.isFile()) throw new PathRefused(`File not found: ${file}`)
}

async function realFolder(dir: string): Promise<string> {
  return fs.realpath(path.resolve(dir)).catch(() => {
    throw new PathRefused(`Folder not found: ${dir}`)
  })
}

/**
 * Admits `body`, runs it, and only then records what it opened: a folder whose scan failed (not a
 * dataset, unreadable) is not left open for later commands to read from.
 */
export async function runAdmitted<T>(body: unknown, folders: AllowedFolders, run: (command: EngineCommandInput) => Promise<T>): Promise<T> {
  const command = await admit(body, folders)
  const result = await run(command)
  if (command.command === 'scan' || command.command === 'listFolderImages') await folders.open(command.dir)
  return result
}

/** realpath of the deepest existing ancestor, with the rest appended: links cannot smuggle a path out. */
async function realpathOfExisting(absolute: string): Promise<string> {
  const rest: string[] = []
  let current = absolute
  for (;;) {
    try {
      return path.join(await fs.realpath(current), ...rest.reverse())
    } catch {
      const parent = path.dirname(current)
      if (parent === current) return absolute
      rest.push(path.basename(current))
      current = parent
    }
  }
}

/**
 * Validates a command from a client and checks every path in it. `scan` is how a user opens a
 * folder, so its folder is added; every other path must already be inside an opened one.
 */
export async function admit(body: unknown, folders: AllowedFolders): Promise<EngineCommandInput> {
  const parsed = EngineCommand.safeParse(body)
  if (!parsed.success) throw new Error(`Refused a malformed command: ${describeSchemaError(parsed.error)}`)
  const command = parsed.data
  const check = (p: string | undefined) => (p === undefined ? undefined : folders.check(p))
  switch (command.command) {
    case 'scan':
      // Opened once the scan succeeds (runAdmitted); here it only has to exist.
      await realFolder(command.dir)
      break
    case 'listFolderImages':
      // Opening a folder of photos to classify is like opening a dataset: it only has to exist.
      await realFolder(command.dir)
      break
    case 'listImages':
      await check(command.dir)
      break
    case 'classifyImageNet':
      await Promise.all(command.files.map(check))
      break
    case 'classifyImages':
      await check(command.model)
      break
    case 'train':
    case 'findLearningRate':
      await Promise.all([command.config.data, command.config.val, command.config.test, command.config.out, command.config.startFrom].map(check))
      break
    case 'predictWithModel':
      await Promise.all([check(command.model), ...command.files.map(check)])
      break
    case 'resumeTraining':
      await Promise.all([check(command.runDir), check(command.out)])
      // The run's files name its dataset folders: the engine holds them to what was opened here,
      // whatever the client sent in this field.
      return { ...command, openedFolders: folders.list() }
    case 'readEvaluation':
    case 'renameRun':
    case 'deleteRun':
    case 'runHistory':
    case 'exportRunCsv':
      await check(command.runDir)
      break
    case 'evaluateModel':
      await Promise.all([check(command.model), check(command.data)])
      break
    case 'readModel':
      await check(command.model)
      break
    case 'describeModel':
      await check(command.startFrom)
      break
    case 'importKeras':
      // The Keras file (and its architecture) is named by the user, as a dataset folder is for
      // `scan`: it is only read, only as a Keras file, and opens nothing for later commands.
      await Promise.all([existingFile(command.file), existingFile(command.architecture), check(command.out)])
      break
    case 'exportKeras':
      await Promise.all([check(command.model), check(command.out)])
      break
  }
  return body as EngineCommandInput
}
