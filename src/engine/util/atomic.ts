// Writes that never leave a half-written file or folder where a good one was: write beside the
// target under a temporary name, then rename over it (a rename within one file system is atomic).
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    await fs.writeFile(tmp, data)
    await fs.rename(tmp, file)
  } catch (error) {
    await fs.rm(tmp, { force: true })
    throw error
  }
}

/** A fresh empty folder beside `target`, for building what will replace it. */
export async function stagingDir(target: string): Promise<string> {
  await fs.mkdir(path.dirname(target), { recursive: true })
  return fs.mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.partial-`))
}

/**
 * Puts the finished folder `staged` where `target` is. The old folder is moved aside first and
 * removed only once the new one is in place; if another writer got there first and `accept`
 * says its result is good, theirs is kept.
 */
export async function replaceDir(staged: string, target: string, accept: () => Promise<boolean> = async () => false): Promise<void> {
  const aside = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`
  const hadOld = await fs.rename(target, aside).then(
    () => true,
    () => false
  )
  try {
    await fs.rename(staged, target)
  } catch (error) {
    if (hadOld) await fs.rename(aside, target).catch(() => {})
    if (!(await accept())) throw error
    await fs.rm(staged, { recursive: true, force: true })
    return
  }
  if (hadOld) await fs.rm(aside, { recursive: true, force: true })
}
