// What a dataset scan found that changes a training run (an empty class, identical images in two
// classes or in train and validation), each with what training will do about it and what the
// user may leave out instead. The dataset view shows them with exclude buttons; the engine sends
// them as notices when a run starts, so the command line prints them too.
import type { DatasetReport, Exclusions } from './protocol'
import { plural } from './plural'

export type DatasetWarningKind = 'empty-class' | 'missing-in-split' | 'duplicate-across-classes' | 'duplicate-across-splits' | 'duplicate'

export interface DatasetWarning {
  kind: DatasetWarningKind
  /** What is wrong, in one sentence. */
  problem: string
  /** What training will do about it as things stand. */
  consequence: string
  /** Files whose exclusion would settle it (one of each group of identical images, say). */
  files: string[]
  /** Classes whose exclusion would settle it. */
  classes: string[]
}

/**
 * The class of an image in a folder layout: the first folder under its split's folder (a class
 * folder may hold sub-folders), else the folder it sits in.
 */
export function classOfFile(file: string, report?: Pick<DatasetReport, 'splits'>): string {
  for (const split of report?.splits ?? []) {
    const source = split.source.replace(/[\\/]+$/, '')
    if (source && (file.startsWith(`${source}/`) || file.startsWith(`${source}\\`))) {
      const first = file.slice(source.length + 1).split(/[\\/]/)[0]
      if (first) return first
    }
  }
  const parts = file.split(/[\\/]/)
  return parts.length >= 2 ? parts[parts.length - 2] : ''
}

export const baseName = (file: string): string => file.split(/[\\/]/).pop() ?? file

/** The report's warnings that the exclusions leave standing. */
export function datasetWarnings(report: DatasetReport, exclude: Partial<Exclusions> = {}): DatasetWarning[] {
  const excludedClasses = new Set(exclude.classes ?? [])
  const excludedFiles = new Set(exclude.files ?? [])
  const warnings: DatasetWarning[] = []
  const train = report.splits.find((s) => s.name === 'train')
  const total = (label: string): number => report.splits.reduce((sum, s) => sum + (s.counts[label] ?? 0), 0)

  for (const label of report.classes) {
    if (excludedClasses.has(label)) continue
    if (total(label) === 0) {
      warnings.push({
        kind: 'empty-class',
        problem: `Class “${label}” has no images.`,
        consequence: 'Training will refuse to start: the model could never learn it. Exclude the class to train without it.',
        files: [],
        classes: [label]
      })
    } else if (train && train.total > 0 && (train.counts[label] ?? 0) === 0) {
      warnings.push({
        kind: 'empty-class',
        problem: `Class “${label}” has no training images.`,
        consequence: 'Training will refuse to start: the model could never learn it. Exclude the class to train without it.',
        files: [],
        classes: [label]
      })
    }
  }
  for (const m of report.missing) {
    if (excludedClasses.has(m.class) || m.split === 'train' || total(m.class) === 0) continue
    warnings.push({
      kind: 'missing-in-split',
      problem: `Class “${m.class}” has no images in ${m.split}.`,
      consequence:
        m.split === 'val'
          ? 'Training goes ahead, but validation accuracy says nothing about this class.'
          : 'Training goes ahead, but the test accuracy says nothing about this class.',
      files: [],
      classes: [m.class]
    })
  }

  for (const group of report.duplicates) {
    const left = group.files.filter((f) => !excludedFiles.has(f) && !excludedClasses.has(classOfFile(f, report)))
    if (left.length < 2) continue
    const names = left.map(baseName).join(' = ')
    const classes = [...new Set(left.map((f) => classOfFile(f, report)))]
    // Every copy but the first can go; which one stays is the user's choice.
    const files = left.slice(1)
    if (classes.length > 1) {
      warnings.push({
        kind: 'duplicate-across-classes',
        problem: `The same image is in ${classes.map((c) => `“${c}”`).join(' and ')}: ${names}.`,
        consequence:
          'Training keeps every copy, each with its own label, so the model is taught two answers for one photo. Exclude the copies in the wrong class.',
        files: left,
        classes: []
      })
    } else if (group.splits.length > 1) {
      warnings.push({
        kind: 'duplicate-across-splits',
        problem: `The same image is in ${group.splits.join(' and ')}: ${names}.`,
        consequence: 'Training keeps both: the model is validated on a photo it trained on, so validation accuracy looks better than it is. Exclude one copy.',
        files,
        classes: []
      })
    } else {
      warnings.push({
        kind: 'duplicate',
        problem: `The same image is in “${classes[0]}” ${plural(left.length, 'time')}: ${names}.`,
        consequence: 'Training keeps every copy, so this photo counts more than the others. Exclude the extra copies.',
        files,
        classes: []
      })
    }
  }
  return warnings
}

/** The warnings as a few lines for a terminal or a notice: at most `limit` of each kind, then a count. */
export function summariseWarnings(warnings: DatasetWarning[], limit = 3): string[] {
  const lines: string[] = []
  const kinds = [...new Set(warnings.map((w) => w.kind))]
  for (const kind of kinds) {
    const ofKind = warnings.filter((w) => w.kind === kind)
    for (const w of ofKind.slice(0, limit)) lines.push(`${w.problem} ${w.consequence}`)
    if (ofKind.length > limit) lines.push(`…and ${plural(ofKind.length - limit, 'more like it', 'more like it')}`)
  }
  return lines
}
