import type { DatasetReport } from '../../shared/protocol'

/** Where one image's pixels come from. Nothing is decoded until the pixels are needed. */
export type ImageRef =
  | { kind: 'file'; path: string; size: number; mtimeMs: number }
  /** A CIFAR-10 binary record: 3072 bytes, the R, G and B planes of a 32x32 image. */
  | { kind: 'cifar'; file: string; record: number; planes: Uint8Array }

export interface LabelledImage {
  ref: ImageRef
  /** Index into Dataset.classes. */
  label: number
}

export interface Dataset {
  report: DatasetReport
  classes: string[]
  train: LabelledImage[]
  val: LabelledImage[]
  test: LabelledImage[]
}

/** How an image is named in messages: its path, or file#record for CIFAR. */
export function describeRef(ref: ImageRef): string {
  return ref.kind === 'file' ? ref.path : `${ref.file}#${ref.record}`
}
