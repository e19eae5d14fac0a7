// Datasets opened before, newest first, kept by the host in the studio home
// (<home>/recent-datasets.json) so the first screen can offer them again, in any window or browser.
import fs from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { RecentDataset } from '../shared/host-commands'
import type { DatasetReport } from '../shared/protocol'
import { writeFileAtomic } from '../engine/util/atomic'
import { readRegularFile } from '../engine/util/safe-read'

export const RECENT_LIMIT = 10
const RecentFile = z.object({ datasets: z.array(RecentDataset).max(100) })

export class RecentDatasets {
  /** Writes one after another: two scans finishing together must not lose one. */
  private writing: Promise<unknown> = Promise.resolve()

  constructor(private readonly file: string) {}

  static inHome(home: string): RecentDatasets {
    return new RecentDatasets(path.join(home, 'recent-datasets.json'))
  }

  /** The list, without folders that are gone. A damaged file reads as an empty list (it is only a convenience). */
  async list(): Promise<RecentDataset[]> {
    const all = await this.read()
    const present = await Promise.all(all.map(async (d) => (await fs.stat(d.dir).catch(() => null))?.isDirectory() ?? false))
    return all.filter((_, i) => present[i])
  }

  record(report: DatasetReport, now = new Date()): Promise<void> {
    const entry: RecentDataset = {
      dir: report.root,
      name: path.basename(report.root),
      images: report.splits.reduce((sum, split) => sum + split.total, 0),
      classes: report.classes.length,
      openedAt: now.toISOString()
    }
    const next = this.writing.then(async () => {
      const kept = (await this.read()).filter((d) => d.dir !== entry.dir)
      await fs.mkdir(path.dirname(this.file), { recursive: true })
      await writeFileAtomic(this.file, JSON.stringify({ datasets: [entry, ...kept].slice(0, RECENT_LIMIT) }, null, 2))
    })
    this.writing = next.catch(() => {})
    return next
  }

  private async read(): Promise<RecentDataset[]> {
    try {
      const parsed = RecentFile.safeParse(JSON.parse((await readRegularFile(this.file, { maxBytes: 1024 * 1024 })).toString('utf8')))
      return parsed.success ? parsed.data.datasets : []
    } catch {
      return []
    }
  }
}
