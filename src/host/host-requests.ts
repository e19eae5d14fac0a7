// Every request from a renderer, in either host: the host's own commands (the folder browser,
// recent datasets) are answered here; engine commands are admitted (paths checked) and run, and a
// dataset that scanned is remembered among the recent ones.
import { HostCommand, isHostCommand } from '../shared/host-commands'
import { describeSchemaError, type DatasetReport, type EngineCommandInput } from '../shared/protocol'
import { runAdmitted, type AllowedFolders } from './allowed'
import type { FolderBrowser } from './folder-browser'
import { expandHome } from './home-path'
import type { RecentDatasets } from './recent-datasets'

export interface HostServices {
  folders: AllowedFolders
  browser: FolderBrowser
  recents: RecentDatasets
  /** The user's home folder, for `~` in a typed path. */
  home: string
}

export async function handleRequest(body: unknown, host: HostServices, run: (command: EngineCommandInput) => Promise<unknown>): Promise<unknown> {
  if (isHostCommand(body)) {
    const parsed = HostCommand.safeParse(body)
    if (!parsed.success) throw new Error(`Refused a malformed command: ${describeSchemaError(parsed.error)}`)
    const command = parsed.data
    switch (command.command) {
      case 'browseFolder':
        return host.browser.list(command.dir)
      case 'recentDatasets':
        return host.recents.list()
    }
  }
  const scan = (body as { command?: unknown } | null)?.command === 'scan'
  const dir = (body as { dir?: unknown }).dir
  const command = scan && typeof dir === 'string' ? { ...(body as object), dir: expandHome(dir, host.home) } : body
  const result = await runAdmitted(command, host.folders, run)
  // Only a convenience: a recents file that cannot be written never fails the scan.
  if (scan) await host.recents.record(result as DatasetReport).catch(() => {})
  return result
}
