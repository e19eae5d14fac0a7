// The labelled images of a training run: train and validation (a folder, or held out of train),
// and an optional test set, all labelled with the training data's classes.
import path from 'node:path'
import { datasetWarnings, summariseWarnings } from '../../shared/dataset-warnings'
import type { Exclusions, SkippedFile, TrainConfig } from '../../shared/protocol'
import { CIFAR_SIDE } from '../datasets/cifar'
import { DatasetError, loadDataset } from '../datasets/scan'
import { describeRef, type LabelledImage } from '../datasets/types'

export interface TrainingData {
  classes: string[]
  train: LabelledImage[]
  val: LabelledImage[]
  test: LabelledImage[]
  /** Side of the images as they are fed in; null when they are decoded at the backbone's size. */
  nativeSize: number | null
  skipped: SkippedFile[]
  /** Things the person training should know before the run starts (a class without validation images, …). */
  warnings: string[]
}

type DataSettings = Pick<TrainConfig, 'data' | 'val' | 'test' | 'valSplit' | 'seed' | 'splitSeed' | 'exclude'>

export async function prepareTrainingData(config: DataSettings): Promise<TrainingData> {
  const main = await loadDataset(config.data, { valSplit: config.valSplit, seed: config.splitSeed ?? config.seed })
  const leaveOut = exclusionFilter(config.data, main.classes, config.exclude)
  const classes = leaveOut.classes
  const skipped = [...main.report.skipped]
  let train = leaveOut.apply(main.train)
  let val = leaveOut.apply(main.val)
  let test = leaveOut.apply(main.test)
  if (config.val) {
    // A separate validation folder replaces any held-out share: that goes back into train.
    if (main.report.validation.kind === 'split') train = leaveOut.apply([...main.train, ...main.val])
    val = await imagesOf(config.val, main.classes, skipped, leaveOut)
  }
  if (config.test) test = await imagesOf(config.test, main.classes, skipped, leaveOut)
  if (train.length === 0) throw new DatasetError(`No training images in ${config.data}`)
  const trained = new Set(train.map((item) => item.label))
  const untrained = classes.filter((_, label) => !trained.has(label))
  if (untrained.length > 0) {
    // Its output would never be trained, yet the model would still offer it as an answer.
    const one = untrained.length === 1
    throw new DatasetError(
      `${config.data}: no training images for ${untrained.map((c) => `"${c}"`).join(', ')}, so the model could never learn to recognise ` +
        `${one ? 'that class' : 'those classes'}. Add images to ${one ? 'it' : 'them'}, or remove ${one ? 'its folder' : 'their folders'}.`
    )
  }
  const warnings: string[] = []
  const validated = new Set(val.map((item) => item.label))
  const unvalidated = val.length > 0 ? classes.filter((_, label) => !validated.has(label)) : []
  if (unvalidated.length > 0) {
    warnings.push(
      `No validation images for ${unvalidated.join(', ')}: validation accuracy says nothing about ${unvalidated.length > 1 ? 'these classes' : 'this class'}`
    )
  }
  // What the scan found that this run keeps (identical images in two classes or in train and validation).
  const standing = datasetWarnings(main.report, config.exclude).filter((w) => w.kind.startsWith('duplicate'))
  warnings.push(...summariseWarnings(standing))
  const testDir = config.test ?? main.report.splits.find((s) => s.name === 'test')?.source
  if (config.val && testDir && path.resolve(config.val) === path.resolve(testDir)) {
    warnings.push(
      `The test split (${testDir}) now doubles as validation: it picks the best epoch and stops training early, so its accuracy is no longer a measure on unseen images`
    )
  }
  return { classes, train, val, test, nativeSize: main.report.layout === 'cifar10-binary' ? CIFAR_SIDE : null, skipped, warnings }
}

/** Every image of another folder, relabelled with the training classes, less what is left out. */
async function imagesOf(dir: string, classes: string[], skipped: SkippedFile[], leaveOut: ExclusionFilter): Promise<LabelledImage[]> {
  const other = await loadDataset(dir, { valSplit: 0.5 })
  const unknown = other.classes.filter((c) => !classes.includes(c))
  if (unknown.length > 0) {
    throw new DatasetError(`${dir} has classes the training data does not have: ${unknown.join(', ')} (training classes: ${classes.join(', ')})`)
  }
  skipped.push(...other.report.skipped)
  return leaveOut.apply([...other.train, ...other.val, ...other.test].map((item) => ({ ...item, label: classes.indexOf(other.classes[item.label]) })))
}

interface ExclusionFilter {
  /** The classes that remain, in their order. */
  classes: string[]
  /** The images that remain, labelled with the remaining classes. */
  apply(items: readonly LabelledImage[]): LabelledImage[]
}

/** Leaves out the excluded files and classes; labels are given by the scan's classes. */
function exclusionFilter(data: string, scanned: string[], exclude: Exclusions | undefined): ExclusionFilter {
  const leftClasses = new Set(exclude?.classes ?? [])
  const unknown = [...leftClasses].filter((c) => !scanned.includes(c))
  if (unknown.length > 0) {
    throw new DatasetError(`${data} has no class ${unknown.map((c) => `"${c}"`).join(', ')} to exclude (its classes: ${scanned.join(', ')})`)
  }
  const classes = scanned.filter((c) => !leftClasses.has(c))
  // Too few classes without any excluded is the dataset's own problem, said where the classes are counted.
  if (classes.length < 2 && leftClasses.size > 0) {
    throw new DatasetError(
      `${data}: excluding ${[...leftClasses].join(', ')} leaves ${classes.length === 1 ? 'one class' : 'no class'}; a classifier needs at least two`
    )
  }
  const relabel = scanned.map((c) => classes.indexOf(c))
  // Paths as the scan wrote them, and resolved, so a file named either way matches.
  const files = new Set((exclude?.files ?? []).flatMap((f) => [f, path.resolve(f)]))
  const excluded = (item: LabelledImage): boolean => {
    const name = describeRef(item.ref)
    return files.has(name) || (item.ref.kind === 'file' && files.has(path.resolve(name)))
  }
  return {
    classes,
    apply: (items) => items.filter((item) => relabel[item.label] >= 0 && !excluded(item)).map((item) => ({ ...item, label: relabel[item.label] }))
  }
}
