// Commands a host answers itself, without the engine: the folder browser of the first screen and
// the list of recent datasets. They travel the same way as engine commands (the WebSocket or the
// engine-request IPC channel); the host tells them apart by name.
import { z } from 'zod'

const Path = z.string().min(1).max(4096)

export const HostCommand = z.discriminatedUnion('command', [
  /** The sub-folders of `dir` (the user's home folder when absent) with their image counts. */
  z.object({ command: z.literal('browseFolder'), dir: Path.optional() }),
  /** Datasets opened before, newest first. */
  z.object({ command: z.literal('recentDatasets') })
])
export type HostCommand = z.infer<typeof HostCommand>
export type HostCommandName = HostCommand['command']

export const BrowsedFolder = z.object({
  name: z.string(),
  dir: z.string(),
  /** Images in it and below (up to a few levels), counted up to a limit. */
  images: z.number().int(),
  /** True when counting stopped at the limit: there are at least `images`. */
  more: z.boolean(),
  /** Looks like a dataset: class folders with images, train/val folders, or CIFAR-10 batches. */
  dataset: z.boolean()
})
export type BrowsedFolder = z.infer<typeof BrowsedFolder>

export const FolderListing = z.object({
  dir: z.string(),
  /** null at the top of what may be browsed. */
  parent: z.string().nullable(),
  /** Where browsing may start: the home folder, the studio's folder, folders opened before. */
  places: z.array(z.object({ label: z.string(), dir: z.string() })),
  folders: z.array(BrowsedFolder),
  /** Images directly in `dir`. */
  images: z.number().int(),
  dataset: z.boolean(),
  /** Sub-folders not shown because they lead outside what may be browsed (symbolic links). */
  hidden: z.number().int()
})
export type FolderListing = z.infer<typeof FolderListing>

export const RecentDataset = z.object({
  dir: z.string(),
  name: z.string(),
  images: z.number().int(),
  classes: z.number().int(),
  openedAt: z.string()
})
export type RecentDataset = z.infer<typeof RecentDataset>

export const HostCommandResults = {
  browseFolder: FolderListing,
  recentDatasets: z.array(RecentDataset)
} satisfies { [C in HostCommandName]: z.ZodType }

export type HostCommandResult<C extends HostCommandName> = z.infer<(typeof HostCommandResults)[C]>
export type HostCommandOf<C extends HostCommandName> = Extract<HostCommand, { command: C }>

export function isHostCommand(body: unknown): boolean {
  const name = (body as { command?: unknown } | null)?.command
  return typeof name === 'string' && HostCommand.options.some((option) => option.shape.command.value === name)
}
