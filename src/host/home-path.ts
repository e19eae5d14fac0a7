// `~` in a path the user typed means their home folder, as in a shell (a browser has no shell to
// expand it first).
import os from 'node:os'
import path from 'node:path'

export function expandHome(typed: string, home = os.homedir()): string {
  const text = typed.trim()
  if (text === '~') return home
  if (text.startsWith('~/') || text.startsWith(`~${path.sep}`)) return path.join(home, text.slice(2))
  return text
}
