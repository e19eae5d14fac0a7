// Writes that never leave a half-written file or folder where a good one was: write beside the
// target under a temporary name, then rename over it (a rename within one file system is atomic).
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'

export async function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    await (typeof data === 'string' || data instanceof Uint8Array ? fs.writeFile(tmp, data) : writeParts(tmp, data))
    await fs.rename(tmp, file)
  } catch (error) {
    await fs.rm(tmp, { force: true })
    throw error
  }
}

/**
 * Writes `parts` one after another into `file`, each from where it is: large saves (a model's
 * weights, a run's state) are lists of arrays that one concatenated copy would double.
 */
export async function writeParts(file: string, parts: readonly Uint8Array[]): Promise<void> {
  const handle = await fs.open(file, 'w')
  try {
    const expected = parts.reduce((n, part) => n + part.byteLength, 0)
    // libuv goes on after a short write, but returns what it wrote before an error (a full disk) as success.
    const { bytesWritten } = await handle.writev([...parts])
    if (bytesWritten !== expected) throw new Error(`Wrote ${bytesWritten} of ${expected} bytes to ${file} (is the disk full?)`)
  } finally {
    await handle.close()
  }
}

/** A fresh empty folder beside `target`, for building what will replace it. */
export async function stagingDir(target: string): Promise<string> {
  await fs.mkdir(path.dirname(target), { recursive: true })
  return fs.mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.partial-`))
}

/** A folder is refused as a replacement target: nothing was moved or deleted. */
export class NotOursError extends Error {
  override name = 'NotOursError'
}

/**
 * Why the folder `dir` is not one we wrote (and so may not be replaced), or null when it is ours.
 * Only called on a real folder (not a link).
 */
export type OwnershipCheck = (dir: string) => Promise<string | null>

export interface ReplaceOptions {
  /** Says whether an existing folder at the target is ours to replace; without it, none is. */
  owned?: OwnershipCheck
  /** When another writer got there first: whether its result is good (then it is kept). */
  accept?: () => Promise<boolean>
}

/**
 * Why `target` may not be replaced, or null when it may: it does not exist, is an empty folder, or
 * is a folder `owned` recognises. Anything else (a file, a link, someone else's folder) is refused.
 */
export async function refusalToReplace(target: string, owned?: OwnershipCheck): Promise<string | null> {
  const stat = await fs.lstat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null
    throw error
  })
  if (stat === null) return null
  if (stat.isSymbolicLink()) return `${target} is a symbolic link`
  if (!stat.isDirectory()) return `${target} is a file, not a folder`
  if ((await fs.readdir(target)).length === 0) return null
  if (!owned) return `${target} already exists and is not empty`
  return owned(target)
}

/**
 * Puts the finished folder `staged` where `target` is. An existing folder at `target` is replaced
 * only when it is empty or `owned` recognises it as ours (checked again once it is moved aside, so
 * nothing swapped in meanwhile is deleted); anything else is refused with NotOursError. The old
 * folder is removed only once the new one is in place; if another writer got there first and
 * `accept` says its result is good, theirs is kept.
 */
export async function replaceDir(staged: string, target: string, options: ReplaceOptions = {}): Promise<void> {
  const refusal = await refusalToReplace(target, options.owned)
  if (refusal) throw new NotOursError(`refused to replace ${target}: ${refusal}. Only a folder Transfer Studio wrote is replaced; nothing in it was changed`)
  const aside = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`
  const hadOld = await fs.rename(target, aside).then(
    () => true,
    () => false
  )
  if (hadOld) {
    const late = await refusalToReplace(aside, options.owned)
    if (late) {
      await fs.rename(aside, target)
      throw new NotOursError(`refused to replace ${target}: it changed while saving (${late}). Nothing in it was changed`)
    }
  }
  try {
    await fs.rename(staged, target)
  } catch (error) {
    if (hadOld) await fs.rename(aside, target).catch(() => {})
    if (!(await (options.accept ?? (async () => false))())) throw error
    await fs.rm(staged, { recursive: true, force: true })
    return
  }
  if (hadOld) await fs.rm(aside, { recursive: true, force: true })
}

/**
 * Why `dir` holds something besides `expected` (names of files we write there), or null. A folder
 * inside or any other name means someone else put it there.
 */
export async function unexpectedEntries(dir: string, expected: ReadonlySet<string>): Promise<string | null> {
  const entries = await fs.readdir(dir, { withFileTypes: true })
  const foreign = entries.filter((e) => !e.isFile() || !expected.has(e.name)).map((e) => e.name)
  if (foreign.length === 0) return null
  const shown = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? `, and ${foreign.length - 5} more` : '')
  return `${dir} holds files Transfer Studio did not write there (${shown})`
}
