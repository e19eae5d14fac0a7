// Plain-text renderings of engine results for people at a terminal (--json skips all of this).
import path from 'node:path'
import { intervalNote } from '../shared/confidence'
import type { BackboneInfo, BackendInfo, DatasetReport, EvaluationReport, LrFinderResult, PredictionResult, TrainEvent } from '../shared/protocol'
import { datasetWarnings, summariseWarnings } from '../shared/dataset-warnings'

const LAYOUTS: Record<DatasetReport['layout'], string> = {
  classes: 'one folder per class',
  splits: 'train/val/test folders',
  'cifar10-binary': 'CIFAR-10 binary batches'
}

export function formatInfo(info: BackendInfo & { appVersion: string; home: string; weightsMirror: string | null }): string {
  const compute =
    info.provider === 'fallback'
      ? `${info.inference} for inference (${info.inferenceThreads} thread${info.inferenceThreads === 1 ? '' : 's'}) + ${info.training} for gradients (fallback)`
      : `${info.inference} (native TensorFlow via @tensorflow/${info.provider})`
  return [
    `Transfer Studio ${info.appVersion}`,
    `Compute:  ${compute}`,
    `Frozen:   frozen layers run on ${info.frozenLayers}`,
    `Training: unfrozen layers train on ${info.unfrozenLayers}`,
    `TensorFlow.js ${info.tfjsVersion}, ${info.cpuThreads} CPU threads, GPU: ${info.gpu ?? 'none'}`,
    `Home:     ${info.home}`,
    `Weights:  ${info.weightsMirror ? `from ${info.weightsMirror} (TRANSFER_STUDIO_WEIGHTS)` : 'official download URLs'}`,
    ...info.notes.map((note) => `Note:     ${note}`)
  ].join('\n')
}

/** The backbones on offer, one line each: what `--backbone` takes and what each costs. */
export function formatBackbones(backbones: BackboneInfo[]): string {
  const width = Math.max(...backbones.map((b) => b.id.length))
  const millions = (n: number): string => `${(n / 1e6).toFixed(1)} M`
  return [
    'Backbones (--backbone):',
    ...backbones.map((b) =>
      [
        `  ${b.id.padEnd(width)}`,
        `${b.inputSize}x${b.inputSize}`,
        `preprocess ${b.preprocess.padEnd(5)}`,
        `${millions(b.parameters)} parameters${b.featureParameters !== null ? ` (${millions(b.featureParameters)} without top)` : ''}`,
        `${(b.downloadBytes / 1e6).toFixed(1)} MB ${b.cached ? 'downloaded' : 'to download'}`,
        b.licence
      ].join(' · ')
    )
  ].join('\n')
}

export function formatScan(report: DatasetReport): string {
  const splits = report.splits.filter((s) => s.total > 0)
  const width = Math.max(5, ...report.classes.map((c) => c.length))
  const cell = (value: string | number): string => String(value).padStart(7)
  const lines = [
    `${report.root}: ${LAYOUTS[report.layout]}, ${report.classes.length} classes, ${report.total} images`,
    `  ${''.padEnd(width)}${splits.map((s) => cell(s.name)).join('')}`,
    ...report.classes.map((c) => `  ${c.padEnd(width)}${splits.map((s) => cell(s.counts[c])).join('')}`),
    `  ${'total'.padEnd(width)}${splits.map((s) => cell(s.total)).join('')}`,
    report.validation.kind === 'folder'
      ? 'Validation: the validation folder'
      : `Validation: ${Math.round(report.validation.fraction * 100)}% of train held out per class (seed ${report.validation.seed})`
  ]
  for (const gap of report.missing) lines.push(`Missing: class "${gap.class}" has no images in ${gap.split}`)
  if (report.skipped.length > 0) {
    lines.push(`Skipped ${report.skipped.length} file${report.skipped.length === 1 ? '' : 's'}:`)
    for (const s of report.skipped) lines.push(`  ${path.relative(report.root, s.file) || s.file}: ${s.reason}`)
  }
  const across = report.duplicates.filter((d) => d.splits.length > 1)
  if (report.duplicates.length > 0) {
    lines.push(`Duplicates: ${report.duplicates.length} groups of identical images, ${across.length} across splits (they inflate validation accuracy):`)
    for (const d of report.duplicates) lines.push(`  ${d.files.map((f) => path.relative(report.root, f)).join(' = ')}`)
  }
  // The same warnings the dataset view shows, with what training will do about each.
  const warnings = summariseWarnings(datasetWarnings(report), 5)
  if (warnings.length > 0) {
    lines.push('Before training:')
    for (const w of warnings) lines.push(`  ${w}`)
  }
  if (report.notes.length > 0) {
    lines.push('Notes:')
    for (const n of report.notes) lines.push(`  ${path.relative(report.root, n.file) || n.file}: ${n.note}`)
  }
  return lines.join('\n')
}

export function formatPrediction(result: PredictionResult): string {
  if ('error' in result) return `${result.file}\n  skipped: ${result.error}`
  const width = Math.max(...result.predictions.map((p) => p.label.length))
  const rows = result.predictions.map((p) => {
    const bar = '█'.repeat(Math.round(p.probability * 30))
    return `  ${p.label.padEnd(width)}  ${(p.probability * 100).toFixed(1).padStart(5)}%  ${bar}`
  })
  return [result.file, ...rows, ...(result.unsure ? [`  ${result.unsure.message}`] : [])].join('\n')
}

const fixed = (value: number | null, digits = 4): string => (value === null ? '-' : value.toFixed(digits))

/** One line per training event worth a person's attention; null for the rest. */
export function formatTrainEvent(event: TrainEvent): string | null {
  switch (event.event) {
    case 'run':
      return `${event.resumed ? 'Resuming' : 'Run folder'}: ${event.runDir}`
    case 'status':
      return event.total ? null : event.message
    case 'path':
      return `Path: ${event.path} (${event.reason})`
    case 'epoch':
      return (
        `epoch ${event.epoch}/${event.epochs}  loss ${fixed(event.loss)}  acc ${fixed(event.acc)}  ` +
        `val_loss ${fixed(event.val_loss)}  val_acc ${fixed(event.val_acc)}  lr ${event.lr}  ${event.seconds.toFixed(1)} s${event.best ? '  *best' : ''}`
      )
    case 'skipped':
      return `skipped ${event.file}: ${event.reason}`
    case 'notice':
      return event.message
    case 'phase':
      return event.message
    case 'done':
      if (event.savedEpoch === null) return `No model saved after ${event.epochs} epochs (${event.stopped}), ${event.seconds.toFixed(1)} s`
      return `Saved ${event.model} after ${event.epochs} epochs (${event.stopped}): val_acc ${fixed(event.val_acc)}${intervalNote(event.val_acc, event.val_count)}, test_acc ${fixed(event.test_acc)}, ${event.seconds.toFixed(1)} s`
    case 'batch':
      return null
  }
}

export function formatEvaluation(report: EvaluationReport): string {
  const images = report.confusion.flat().reduce((a, b) => a + b, 0)
  const width = Math.max(9, ...report.classes.map((c) => c.length))
  const cell = (v: string | number): string => String(v).padStart(Math.max(6, width))
  const lines = [
    `accuracy ${report.accuracy.toFixed(4)}${intervalNote(report.accuracy, images)}   loss ${report.loss.toFixed(4)}   images ${images}`,
    '',
    `confusion (rows: true class, columns: predicted)`,
    `  ${''.padEnd(width)}${report.classes.map(cell).join('')}`,
    ...report.confusion.map((row, i) => `  ${report.classes[i].padEnd(width)}${row.map(cell).join('')}`),
    '',
    `  ${'class'.padEnd(width)}${['precision', 'recall', 'f1', 'support'].map(cell).join('')}`,
    ...report.perClass.map((c) => `  ${c.label.padEnd(width)}${[c.precision.toFixed(3), c.recall.toFixed(3), c.f1.toFixed(3), c.support].map(cell).join('')}`)
  ]
  if (report.misclassified.length > 0) {
    lines.push('', `misclassified (${report.misclassified.length}, most confident first):`)
    for (const m of report.misclassified.slice(0, 20)) {
      lines.push(`  ${m.file}: ${m.trueLabel} taken for ${m.predictedLabel} (${(m.confidence * 100).toFixed(1)}%)`)
    }
  }
  for (const s of report.skipped) lines.push(`skipped ${s.file}: ${s.reason}`)
  return lines.join('\n')
}

/** The loss against the learning rate, one line per tenfold step, and the suggestion. */
export function formatLrFinder(result: LrFinderResult): string {
  const lines = ['learning rate   smoothed loss']
  let next = 0
  result.lrs.forEach((lr, i) => {
    if (Math.log10(lr) >= next - 1e-9 || i === 0 || i === result.lrs.length - 1) {
      lines.push(`${lr.toExponential(1).padStart(13)}   ${result.losses[i].toFixed(4)}`)
      next = Math.floor(Math.log10(lr)) + 1
    }
  })
  lines.push(
    result.suggestion === null
      ? 'No suggestion: the loss did not fall at any rate tried (keep the default, or check the data)'
      : `Suggested learning rate: ${result.suggestion.toPrecision(2)} (where the loss falls fastest; use it with --lr)`
  )
  return lines.join('\n')
}
