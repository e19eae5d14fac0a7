// The sample dataset's archive as the official URL serves it (hymenoptera_data/train/…, …/val/…),
// built once from ../shared/data/hymenoptera with Debian's `zip` and kept in the test weights
// mirror at tutorial/hymenoptera_data.zip, where TRANSFER_STUDIO_WEIGHTS makes the app look.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { DATA, tempDir, weightsMirror } from './helpers'

export const SAMPLE_ZIP_PATH = 'tutorial/hymenoptera_data.zip'

/** The weights mirror, holding the sample's archive too; returns the mirror folder. */
export function sampleMirror(): string {
  const mirror = weightsMirror()
  const zip = path.join(mirror, ...SAMPLE_ZIP_PATH.split('/'))
  if (fs.existsSync(zip)) return mirror
  const work = tempDir('ts-sample-zip-')
  // zip follows the link and stores the files under the link's name, as the real archive has them.
  fs.symlinkSync(path.join(DATA, 'hymenoptera'), path.join(work, 'hymenoptera_data'), 'dir')
  const made = path.join(work, 'hymenoptera_data.zip')
  execFileSync('zip', ['-r', '-q', '-1', made, 'hymenoptera_data'], { cwd: work })
  fs.mkdirSync(path.dirname(zip), { recursive: true })
  // Another test file may be making it at the same moment: one rename, whole or absent.
  const temp = `${zip}.${process.pid}`
  fs.copyFileSync(made, temp)
  fs.renameSync(temp, zip)
  return mirror
}

/** Every file below `dir`, relative, sorted. */
export function filesBelow(dir: string): string[] {
  const out: string[] = []
  const walk = (current: string, rel: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name)
      const relative = rel ? `${rel}/${entry.name}` : entry.name
      if (fs.statSync(full).isDirectory()) walk(full, relative)
      else out.push(relative)
    }
  }
  walk(dir, '')
  return out.sort()
}
