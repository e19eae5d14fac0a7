// The contract between renderer, hosts and engine: every value that crosses a process
// boundary is described here once, as a runtime schema, and its TypeScript type is
// inferred from that schema so the two can never drift apart.
import { z } from 'zod'

export const PreprocessMode = z.enum(['tf', 'caffe', 'torch'])
export type PreprocessMode = z.infer<typeof PreprocessMode>

export const BackendInfo = z.object({
  /** Backend that runs forward passes (frozen layers, prediction). */
  inference: z.string(),
  /** Backend that computes gradients (trainable layers). */
  training: z.string(),
  /** Which tfjs package provided the compute: native TensorFlow or the JavaScript fallback. */
  provider: z.enum(['tfjs-node-gpu', 'tfjs-node', 'fallback']),
  tfjsVersion: z.string(),
  cpuThreads: z.number().int(),
  /** Threads the inference backend itself uses inside this process. */
  inferenceThreads: z.number().int(),
  gpu: z.string().nullable(),
  /** Why a preferred native backend is not in use, for the person reading `info`. */
  notes: z.array(z.string())
})
export type BackendInfo = z.infer<typeof BackendInfo>

export const BackboneInfo = z.object({
  id: z.string(),
  name: z.string(),
  family: z.string(),
  inputSize: z.number().int(),
  preprocess: PreprocessMode,
  featureLayer: z.string(),
  parameters: z.number().int(),
  downloadBytes: z.number().int(),
  licence: z.string(),
  url: z.string(),
  cached: z.boolean()
})
export type BackboneInfo = z.infer<typeof BackboneInfo>

export const SkippedFile = z.object({ file: z.string(), reason: z.string() })
export type SkippedFile = z.infer<typeof SkippedFile>

export const FileNote = z.object({ file: z.string(), note: z.string() })
export type FileNote = z.infer<typeof FileNote>

export const SplitName = z.enum(['train', 'val', 'test'])
export type SplitName = z.infer<typeof SplitName>

export const SplitReport = z.object({
  name: SplitName,
  /** Folder (or, for CIFAR-10, files) the split was read from. */
  source: z.string(),
  counts: z.record(z.string(), z.number().int()),
  total: z.number().int()
})
export type SplitReport = z.infer<typeof SplitReport>

export const DatasetReport = z.object({
  root: z.string(),
  layout: z.enum(['classes', 'splits', 'cifar10-binary']),
  classes: z.array(z.string()),
  splits: z.array(SplitReport),
  /** A class present in some split and absent from this one. */
  missing: z.array(z.object({ split: SplitName, class: z.string() })),
  skipped: z.array(SkippedFile),
  notes: z.array(FileNote),
  /** How validation data will be obtained when training. */
  validation: z.union([
    z.object({ kind: z.literal('folder') }),
    z.object({ kind: z.literal('split'), fraction: z.number(), seed: z.number().int() })
  ]),
  total: z.number().int()
})
export type DatasetReport = z.infer<typeof DatasetReport>

export const ClassProbability = z.object({ label: z.string(), probability: z.number() })
export type ClassProbability = z.infer<typeof ClassProbability>

export const PredictionResult = z.union([
  z.object({ file: z.string(), predictions: z.array(ClassProbability) }),
  z.object({ file: z.string(), error: z.string() })
])
export type PredictionResult = z.infer<typeof PredictionResult>

export const DownloadProgress = z.object({
  backbone: z.string(),
  file: z.string(),
  bytes: z.number().int(),
  totalBytes: z.number().int().nullable()
})
export type DownloadProgress = z.infer<typeof DownloadProgress>

export const ScanProgress = z.object({ filesSeen: z.number().int(), imagesFound: z.number().int() })
export type ScanProgress = z.infer<typeof ScanProgress>

// Commands a host sends to the engine process. Paths are absolute: the host resolves them
// and checks them against what the user opened before anything reaches the engine.
const MAX_PATH = 4096
const Path = z.string().min(1).max(MAX_PATH)

export const EngineCommand = z.discriminatedUnion('command', [
  z.object({ command: z.literal('info') }),
  z.object({ command: z.literal('listBackbones') }),
  z.object({
    command: z.literal('scan'),
    dir: Path,
    valSplit: z.number().gt(0).lt(1).optional(),
    seed: z.number().int().optional()
  }),
  z.object({
    command: z.literal('classifyImageNet'),
    backbone: z.string().max(100),
    files: z.array(Path).min(1).max(1000),
    top: z.number().int().min(1).max(1000).optional()
  })
])
export type EngineCommand = z.infer<typeof EngineCommand>

// The envelope is checked apart from the command, so a malformed command still gets an answer.
export const EngineRequest = z.object({ id: z.number().int().nonnegative(), body: z.unknown() })
export type EngineRequest = z.infer<typeof EngineRequest>

export const EngineEvent = z.discriminatedUnion('event', [
  z.object({ event: z.literal('download'), requestId: z.number().int(), progress: DownloadProgress }),
  z.object({ event: z.literal('scan'), requestId: z.number().int(), progress: ScanProgress })
])
export type EngineEvent = z.infer<typeof EngineEvent>

export const EngineReply = z.union([
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.number().int(), ok: z.literal(false), error: z.string() })
])
export type EngineReply = z.infer<typeof EngineReply>

/** Turns a schema failure into one sentence a person can act on. */
export function describeSchemaError(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') + ': ' : ''}${issue.message}`)
    .join('; ')
}
