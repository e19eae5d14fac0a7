// Where a model's training photos lie in its pooled backbone features: one centroid a class and
// how far that class's photos stray from it. Saved in metadata.json so prediction can tell a photo
// of a known kind from one unlike anything trained on, which a softmax cannot (it always sums to 1).
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { FeatureStats, MAX_FEATURE_STAT_VALUES } from '../../shared/protocol'
import { NOVELTY_PERCENTILE } from '../../shared/unsure'
import { METADATA_FILE } from '../model/store'
import { writeFileAtomic } from '../util/atomic'
import { seededRandom, shuffled } from '../util/random'
import { readJsonFile } from '../util/safe-read'
import type { Partition } from './partition'
import type { BatchSource } from './sources'
import type { TrainingStep } from './step'

/** The head's first layer (build.ts names it): its output is the pooled backbone features. */
export const FEATURE_LAYERS = ['head_pool', 'head_flatten'] as const
/** Enough photos for a 99th percentile; more would only cost another pass over the backbone. */
export const MAX_STATS_IMAGES = 1000
const BATCH = 32
const MAX_METADATA_BYTES = 16 * 1024 * 1024

/** Linear interpolation between closest ranks (numpy.percentile's default). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.ceil(rank)
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2
  return Math.sqrt(sum)
}

/**
 * Statistics of `features` (one row a photo) labelled with `labels` (0..classes-1); null when a
 * class has fewer than two photos or the centroids would be too large to keep.
 * A photo's distance is taken to its class's centroid without it (leave-one-out): with a few dozen
 * photos a class, a centroid that includes the photo sits visibly closer to it than to a new photo
 * of the same class, and the threshold would come out too tight. Plain Euclidean distance on the
 * pooled features: on ants vs bees it told other photos apart better than cosine distance or
 * nearest neighbours (measured in test/engine/inference/unsure-real.test.ts's setting).
 */
export function computeFeatureStats(features: readonly ArrayLike<number>[], labels: ArrayLike<number>, classes: number, layer: string): FeatureStats | null {
  const width = features[0]?.length ?? 0
  if (width === 0 || classes * width > MAX_FEATURE_STAT_VALUES) return null
  const sums = Array.from({ length: classes }, () => new Float64Array(width))
  const counts = new Array<number>(classes).fill(0)
  features.forEach((row, i) => {
    const sum = sums[labels[i]]
    for (let j = 0; j < width; j++) sum[j] += row[j]
    counts[labels[i]]++
  })
  if (counts.some((n) => n < 2)) return null
  const centroids = sums.map((sum, c) => Array.from(sum, (x) => x / counts[c]))
  const distances: number[][] = Array.from({ length: classes }, () => [])
  features.forEach((row, i) => {
    const n = counts[labels[i]]
    // x - (n·c - x)/(n - 1) = n/(n - 1) · (x - c)
    distances[labels[i]].push((n / (n - 1)) * distance(row, centroids[labels[i]]))
  })
  // A class of identical photos has no spread: a tiny floor keeps the threshold usable as a divisor.
  const thresholds = distances.map((d) => Math.max(percentile(d, NOVELTY_PERCENTILE), 1e-6))
  return FeatureStats.parse({ layer, metric: 'euclidean', centroids, thresholds, percentile: NOVELTY_PERCENTILE, images: features.length })
}

/** Distance of `feature` to the nearest class centroid, in units of that class's threshold (>1: unlike training). */
export function novelty(stats: FeatureStats, feature: ArrayLike<number>): number {
  return Math.min(...stats.centroids.map((centroid, c) => distance(feature, centroid) / stats.thresholds[c]))
}

/**
 * `model` from its inputs to `name`'s output. The suffix shares its layers with the whole model, so
 * a layer has one node in each graph: the one reachable from this model's inputs is used (a node of
 * another graph makes tf.model throw "Graph disconnected"). Shares the layers (no new weights), so
 * it is never disposed: that would dispose theirs.
 */
export function upToLayer(model: tf.LayersModel, name: string): tf.LayersModel {
  const layer = model.getLayer(name)
  const nodes = (layer as unknown as { inboundNodes: unknown[] }).inboundNodes.length
  for (let node = nodes - 1; node >= 0; node--) {
    try {
      return tf.model({ inputs: model.inputs, outputs: layer.getOutputAt(node) as tf.SymbolicTensor })
    } catch {
      // That node belongs to another graph sharing the layer.
    }
  }
  throw new Error(`${name} is not reachable from the inputs of ${model.name}`)
}

/**
 * Measures up to MAX_STATS_IMAGES training photos (unaugmented) of the model `part` splits, taking
 * the pooled features from the cached prefix output when the cut is the pooling layer and through
 * the suffix's first layers otherwise. Null when the head has no pooling layer we know.
 */
export async function measureFeatureStats(
  part: Partition,
  train: BatchSource,
  classes: number,
  step?: Pick<TrainingStep, 'layerOutput' | 'takesPixels'>
): Promise<FeatureStats | null> {
  const layer = FEATURE_LAYERS.find((name) => name === part.cutLayer || part.suffix.layers.some((l) => l.name === name))
  if (!layer || train.size === 0) return null
  // Through unfrozen convolutions, the native step's engine: tfjs cpu took minutes for ResNet50's conv5.
  const native = layer === part.cutLayer ? undefined : step?.layerOutput
  const upToPool = layer === part.cutLayer || native ? null : upToLayer(part.suffix, layer)
  const chosen = shuffled(
    Array.from({ length: train.size }, (_, i) => i),
    seededRandom(1)
  ).slice(0, MAX_STATS_IMAGES)
  const features: Float32Array[] = []
  const labels: number[] = []
  for (let start = 0; start < chosen.length; start += BATCH) {
    const batch = await train.batch(chosen.slice(start, start + BATCH), false, native !== undefined && step?.takesPixels)
    try {
      if (batch.labels.length === 0) continue
      const out = native ? await native(batch.x, layer) : null
      const pooled = tf.tidy(() => (out ?? (upToPool ? (upToPool.predict(batch.x) as tf.Tensor) : batch.x.clone())).reshape([batch.labels.length, -1]))
      out?.dispose()
      const values = (await pooled.data()) as Float32Array
      const width = pooled.shape[1]!
      pooled.dispose()
      for (let i = 0; i < batch.labels.length; i++) {
        features.push(values.slice(i * width, (i + 1) * width))
        labels.push(batch.labels[i])
      }
    } finally {
      batch.x.dispose()
    }
  }
  return computeFeatureStats(features, labels, classes, layer)
}

/**
 * Adds the training photos' feature statistics to the model saved in `modelDir` (metadata.json is
 * not among the checksummed files, so the model itself is untouched). Does nothing when they
 * cannot be measured: such a model marks only low probabilities as unsure.
 */
export async function addFeatureStats(
  modelDir: string,
  part: Partition,
  train: BatchSource,
  classes: number,
  step?: Pick<TrainingStep, 'layerOutput' | 'takesPixels'>
): Promise<void> {
  const stats = await measureFeatureStats(part, train, classes, step)
  if (!stats) return
  const file = path.join(modelDir, METADATA_FILE)
  const metadata = (await readJsonFile(file, MAX_METADATA_BYTES)) as Record<string, unknown>
  await writeFileAtomic(file, JSON.stringify({ ...metadata, featureStats: stats }, null, 2))
}
