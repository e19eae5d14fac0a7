// Mistakes in what was typed: one line naming the flag and what it needs, exit code 2 (as
// commander's own usage errors), checked before anything is loaded.
import fs from 'node:fs'

export const USAGE_EXIT_CODE = 2

export class UsageError extends Error {
  override name = 'UsageError'
}

/** Each folder flag given must name a folder that exists. */
export function checkFolderFlags(flags: { data?: string; val?: string; test?: string; resume?: string }): void {
  for (const [flag, dir] of Object.entries({ '--data': flags.data, '--val': flags.val, '--test': flags.test, '--resume': flags.resume })) {
    if (dir === undefined) continue
    let stat: fs.Stats
    try {
      stat = fs.statSync(dir)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new UsageError(code === 'ENOENT' ? `${flag} ${dir}: no such folder` : `${flag} ${dir}: cannot be read (${code ?? (error as Error).message})`)
    }
    if (!stat.isDirectory()) throw new UsageError(`${flag} ${dir}: not a folder`)
  }
}
