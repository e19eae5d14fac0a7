// The labelled images of a training run: train and validation (a folder, or held out of train),
// and an optional test set, all labelled with the training data's classes.
import type { SkippedFile, TrainConfig } from '../../shared/protocol'
import { CIFAR_SIDE } from '../datasets/cifar'
import { DatasetError, loadDataset } from '../datasets/scan'
import type { LabelledImage } from '../datasets/types'

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

export async function prepareTrainingData(config: Pick<TrainConfig, 'data' | 'val' | 'test' | 'valSplit' | 'seed' | 'splitSeed'>): Promise<TrainingData> {
  const main = await loadDataset(config.data, { valSplit: config.valSplit, seed: config.splitSeed ?? config.seed })
  const classes = main.classes
  const skipped = [...main.report.skipped]
  let train = main.train
  let val = main.val
  let test = main.test
  if (config.val) {
    // A separate validation folder replaces any held-out share: that goes back into train.
    if (main.report.validation.kind === 'split') train = [...main.train, ...main.val]
    val = await imagesOf(config.val, classes, skipped)
  }
  if (config.test) test = await imagesOf(config.test, classes, skipped)
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
    warnings.push(`No validation images for ${unvalidated.join(', ')}: validation accuracy says nothing about ${unvalidated.length > 1 ? 'these classes' : 'this class'}`)
  }
  return { classes, train, val, test, nativeSize: main.report.layout === 'cifar10-binary' ? CIFAR_SIDE : null, skipped, warnings }
}

/** Every image of another folder, relabelled with the training classes. */
async function imagesOf(dir: string, classes: string[], skipped: SkippedFile[]): Promise<LabelledImage[]> {
  const other = await loadDataset(dir, { valSplit: 0.5 })
  const unknown = other.classes.filter((c) => !classes.includes(c))
  if (unknown.length > 0) {
    throw new DatasetError(`${dir} has classes the training data does not have: ${unknown.join(', ')} (training classes: ${classes.join(', ')})`)
  }
  skipped.push(...other.report.skipped)
  return [...other.train, ...other.val, ...other.test].map((item) => ({ ...item, label: classes.indexOf(other.classes[item.label]) }))
}
