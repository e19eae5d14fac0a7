// The contract between renderer, hosts and engine: every value that crosses a process
// boundary is described here once, as a runtime schema, and its TypeScript type is
// inferred from that schema so the two can never drift apart.
import { z } from 'zod'

// Keras' preprocess_input modes (tf: -1..1), plus the scalings Keras models of one's own use:
// unit (x / 255, 0..1) and raw (0..255 as they are).
export const PreprocessMode = z.enum(['tf', 'caffe', 'torch', 'unit', 'raw'])
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
  /** What runs frozen layers when computing features (when every one of them can run there). */
  frozenLayers: z.string(),
  /** What trains unfrozen layers: the native onnxruntime training step or a tfjs backend, and when. */
  unfrozenLayers: z.string(),
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
  /** Keras' count with the ImageNet classifier. */
  parameters: z.number().int(),
  /** Keras' count with include_top=False, where known. */
  featureParameters: z.number().int().nullable(),
  downloadBytes: z.number().int(),
  licence: z.string(),
  url: z.string(),
  /** TensorFlow.js files used as they are, or an official Keras .h5 file converted on first use. */
  weights: z.enum(['tfjs', 'keras-h5']),
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
  /** Byte-identical images; across splits they make validation accuracy look better than it is. */
  duplicates: z.array(z.object({ files: z.array(z.string()), splits: z.array(SplitName) })),
  /** How validation data will be obtained when training. */
  validation: z.union([z.object({ kind: z.literal('folder') }), z.object({ kind: z.literal('split'), fraction: z.number(), seed: z.number().int() })]),
  total: z.number().int()
})
export type DatasetReport = z.infer<typeof DatasetReport>

export const ClassProbability = z.object({ label: z.string(), probability: z.number() })
export type ClassProbability = z.infer<typeof ClassProbability>

/** Why a prediction should not be trusted (src/shared/unsure.ts decides), in one line for a person. */
export const UnsureMark = z.object({ reason: z.enum(['low-probability', 'unlike-training']), message: z.string() })
export type UnsureMark = z.infer<typeof UnsureMark>

export const PredictionResult = z.union([
  z.object({
    file: z.string(),
    predictions: z.array(ClassProbability),
    /**
     * Distance of the photo's pooled features to the nearest class centroid of the training photos,
     * in units of that class's threshold (>1: farther than almost every training photo). Null when
     * the model keeps no feature statistics (the plain ImageNet backbone, older models).
     */
    novelty: z.number().nullable().optional(),
    unsure: UnsureMark.nullable().optional()
  }),
  z.object({ file: z.string(), error: z.string() })
])
export type PredictionResult = z.infer<typeof PredictionResult>

export const DownloadProgress = z.object({
  backbone: z.string(),
  file: z.string(),
  bytes: z.number().int(),
  totalBytes: z.number().int().nullable(),
  /** 'copying' when the source is a local folder (a weights mirror on disk), not the network. */
  action: z.enum(['downloading', 'copying']).optional(),
  /** What is being fetched, in words ("MobileNet v1 weights", "the sample dataset"); else `backbone`. */
  label: z.string().optional(),
  /** Over the last few seconds; null until there is enough to measure. */
  bytesPerSecond: z.number().nonnegative().nullable().optional(),
  secondsLeft: z.number().nonnegative().nullable().optional(),
  done: z.boolean().optional()
})
export type DownloadProgress = z.infer<typeof DownloadProgress>

export const ScanProgress = z.object({ filesSeen: z.number().int(), imagesFound: z.number().int() })
export type ScanProgress = z.infer<typeof ScanProgress>

// ---- Models and training ----

// Sane maxima for numbers that size allocations. Files we read back (a model's metadata.json, a
// run's state.json) are checked against them too: an edited file cannot ask for 13 GB.
/** Side of the square images a model takes. */
export const MAX_INPUT_SIZE = 1024
export const MIN_INPUT_SIZE = 8
export const MAX_CLASSES = 100_000
export const MAX_LABEL_LENGTH = 500
export const MAX_LAYERS = 5000
/** Parameters of a saved model or a run state (ResNet50 has 25.6 million). */
export const MAX_PARAMETERS = 200_000_000
export const MAX_EPOCHS = 10_000
const LayerName = z.string().max(200)

export const DenseLayerConfig = z.object({
  units: z.number().int().min(1).max(8192),
  activation: z.enum(['relu', 'elu', 'selu', 'tanh', 'sigmoid', 'linear']).default('relu'),
  /** BatchNormalization before the Dense layer, as the Keras recipes place it. */
  batchNorm: z.boolean().default(false),
  /** Dropout rate after the Dense layer; 0 for none. */
  dropout: z.number().min(0).max(0.95).default(0)
})
export type DenseLayerConfig = z.infer<typeof DenseLayerConfig>

export const HeadConfig = z.object({
  pooling: z.enum(['avg', 'flatten']).default('avg'),
  /** Dropout right after pooling, before any Dense layer; 0 for none. */
  dropout: z.number().min(0).max(0.95).default(0),
  dense: z.array(DenseLayerConfig).max(8).default([]),
  /**
   * Initial weights of the classifier (the last Dense layer). 'zeros' starts from uniform
   * predictions, where Glorot's random logits (Keras' default) take more steps to wash out than a
   * few photos a class give (docs/adr/0004-classifier-initialisation.md). 'pytorch' is
   * U(±1/sqrt(fan_in)) as PyTorch's Linear; 'keras' is Dense's Glorot-uniform, to reproduce a
   * Keras script exactly.
   */
  init: z.enum(['zeros', 'pytorch', 'keras']).default('zeros')
})
export type HeadConfig = z.infer<typeof HeadConfig>

export const FreezeSpec = z.discriminatedUnion('kind', [
  /** The whole backbone, as base_model.trainable = False. */
  z.object({ kind: z.literal('all') }),
  z.object({ kind: z.literal('none') }),
  /** Every backbone layer up to and including this one, as `for layer in model.layers[:N]`. */
  z.object({ kind: z.literal('upTo'), layer: LayerName.min(1) }),
  /** Exactly these layers frozen: what the layer tree's toggles produce. */
  z.object({ kind: z.literal('layers'), frozen: z.array(LayerName).max(MAX_LAYERS) })
])
export type FreezeSpec = z.infer<typeof FreezeSpec>

export const Augmentation = z.object({
  flipHorizontal: z.boolean().default(false),
  flipVertical: z.boolean().default(false),
  /** Largest rotation either way, in degrees. */
  rotate: z.number().min(0).max(180).default(0),
  /** Largest zoom in or out, as a fraction (0.1 = 90% to 110%). */
  zoom: z.number().min(0).max(0.9).default(0),
  /** Largest shear either way, in degrees. */
  shear: z.number().min(0).max(45).default(0),
  /** Largest brightness change either way, as a fraction of the full range. */
  brightness: z.number().min(0).max(1).default(0)
})
export type Augmentation = z.infer<typeof Augmentation>

/** Files and classes of a dataset that training leaves out (the dataset view's answer to a scan warning). */
export const Exclusions = z.object({
  /** Images as the scan names them: a path, or file#record for a CIFAR-10 batch. */
  files: z.array(z.string().min(1).max(4096)).max(100_000).default([]),
  classes: z.array(z.string().min(1).max(MAX_LABEL_LENGTH)).max(MAX_CLASSES).default([])
})
export type Exclusions = z.infer<typeof Exclusions>

export const Monitor = z.enum(['val_loss', 'val_acc'])
export type Monitor = z.infer<typeof Monitor>

// The fields alone (ModelMetadata records them without `out`; zod cannot omit from a refined object).
const TrainConfigFields = z.object({
  data: z.string().min(1).max(4096),
  backbone: z.string().min(1).max(100),
  /** A separate validation folder; otherwise a validation folder inside `data`, or valSplit of train. */
  val: z.string().min(1).max(4096).optional(),
  test: z.string().min(1).max(4096).optional(),
  valSplit: z.number().gt(0).lt(1).default(0.2),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(42),
  /** Seed of the held-out validation split, when it differs from `seed` (the same split, other initial weights and order). */
  splitSeed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
  head: HeadConfig.default({ pooling: 'avg', dropout: 0, dense: [], init: 'zeros' }),
  freeze: FreezeSpec.default({ kind: 'all' }),
  epochs: z.number().int().min(1).max(MAX_EPOCHS).default(10),
  batchSize: z.number().int().min(1).max(4096).default(32),
  learningRate: z.number().gt(0).max(10).default(0.001),
  optimizer: z.enum(['adam', 'rmsprop', 'sgd']).default('adam'),
  /** Momentum of sgd (Keras SGD(momentum=…)). */
  momentum: z.number().min(0).max(0.999).default(0.9),
  augment: Augmentation.nullable().default(null),
  earlyStopping: z
    .object({ monitor: Monitor.default('val_loss'), patience: z.number().int().min(0).max(MAX_EPOCHS), restoreBest: z.boolean().default(true) })
    .nullable()
    .default(null),
  reduceLrOnPlateau: z
    .object({
      monitor: Monitor.default('val_loss'),
      factor: z.number().gt(0).lt(1).default(0.1),
      patience: z.number().int().min(0).max(MAX_EPOCHS).default(3),
      minLr: z.number().min(0).default(0)
    })
    .nullable()
    .default(null),
  /** Left out of every split, as if they were not in the folders. */
  exclude: Exclusions.optional(),
  /** Where the finished model is saved; a run folder under the studio home when absent. */
  out: z.string().min(1).max(4096).optional(),
  /**
   * A saved model (imported from Keras, or trained here) to continue training, as Keras'
   * load_model then fit: its own layers and classifier, so the dataset must have its classes.
   * `backbone` is then only a name; `head` is not used; `freeze` freezes its layers before the classifier.
   */
  startFrom: z.string().min(1).max(4096).optional(),
  /** Run the frozen layers once per image and train on their outputs, when the model allows it. */
  cacheFeatures: z.boolean().default(true),
  /**
   * Memory for cached backbone features before they spill to disk; on the end-to-end path, for
   * each split's decoded images kept between epochs.
   */
  featureCacheMB: z
    .number()
    .int()
    .min(0)
    .max(1024 * 1024)
    .default(1024),
  /**
   * How an unfrozen BatchNormalization layer normalises: 'frozen' with its moving statistics, left
   * unchanged (inference mode, Keras' fine-tuning advice); 'train' with the batch's statistics,
   * moving averages updated with the layer's momentum (0.99 in Keras).
   */
  batchNormStatistics: z.enum(['frozen', 'train']).default('frozen'),
  /**
   * Fine-tuning in two phases, as Keras's guide does it in one run: the head alone (the whole
   * backbone frozen) for headEpochs epochs at learningRate, then `freeze` applies for the rest
   * of `epochs` at twoPhase.learningRate (usually lower).
   */
  twoPhase: z
    // At least one epoch is left for the second phase.
    .object({
      headEpochs: z
        .number()
        .int()
        .min(1)
        .max(MAX_EPOCHS - 1),
      learningRate: z.number().gt(0).max(10)
    })
    .nullable()
    .default(null)
})
export const TrainConfig = TrainConfigFields.superRefine((config, context) => {
  if (config.twoPhase && config.twoPhase.headEpochs >= config.epochs) {
    context.addIssue({
      code: 'custom',
      path: ['twoPhase', 'headEpochs'],
      message: `the head-only phase (${config.twoPhase.headEpochs} epochs) must be shorter than all epochs (${config.epochs}): epochs counts both phases`
    })
  }
})
export type TrainConfig = z.infer<typeof TrainConfig>
export type TrainConfigInput = z.input<typeof TrainConfig>

/** The learning-rate range test: the smoothed loss at each rate tried, and the rate it suggests. */
export const LrFinderResult = z.object({
  lrs: z.array(z.number()),
  losses: z.array(z.number()),
  suggestion: z.number().nullable()
})
export type LrFinderResult = z.infer<typeof LrFinderResult>

/** This machine's measured training speed, for the layer tree's time-per-epoch estimate. */
export const TrainingSpeed = z.object({
  /** Floating-point operations per second (as shared/layer-cost.ts counts them), or null when nothing could be measured. */
  flopsPerSecond: z.number().nullable(),
  /** What was measured: the engine that trains unfrozen convolutions, and on what. */
  engine: z.string(),
  /** How it was measured, for the user ("calibrated: 5 training steps of a MobileNet block"). */
  method: z.string()
})
export type TrainingSpeed = z.infer<typeof TrainingSpeed>

export const LayerNode = z.object({
  name: z.string(),
  type: z.string(),
  outputShape: z.array(z.number().nullable()),
  parameters: z.number().int(),
  /** Parameters that train while the layer is trainable (BatchNormalization's moving statistics never do). */
  trainableParameters: z.number().int(),
  trainable: z.boolean(),
  /** Whether the layer has weights at all: a toggle means nothing on one that has none. */
  hasWeights: z.boolean()
})
export type LayerNode = z.infer<typeof LayerNode>

export const LayerBlock = z.object({
  name: z.string(),
  /** 'input', 'backbone' or 'head'. */
  part: z.enum(['input', 'backbone', 'head']),
  layers: z.array(LayerNode)
})
export type LayerBlock = z.infer<typeof LayerBlock>

export const ModelSummary = z.object({
  blocks: z.array(LayerBlock),
  totalParameters: z.number().int(),
  trainableParameters: z.number().int(),
  nonTrainableParameters: z.number().int()
})
export type ModelSummary = z.infer<typeof ModelSummary>

export const EpochMetrics = z.object({
  epoch: z.number().int(),
  loss: z.number(),
  acc: z.number(),
  val_loss: z.number().nullable(),
  val_acc: z.number().nullable(),
  /** Validation images scored: on a few dozen, an accuracy is shown with its interval. */
  val_count: z.number().int().nullable().optional(),
  lr: z.number(),
  seconds: z.number(),
  /** In a two-phase run: 1 while the head alone trains, 2 once the chosen layers are unfrozen. */
  phase: z.union([z.literal(1), z.literal(2)]).optional()
})
export type EpochMetrics = z.infer<typeof EpochMetrics>

export const ClassMetrics = z.object({
  label: z.string(),
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  support: z.number().int()
})
export type ClassMetrics = z.infer<typeof ClassMetrics>

export const Misclassified = z.object({
  file: z.string(),
  trueLabel: z.string(),
  predictedLabel: z.string(),
  confidence: z.number()
})
export type Misclassified = z.infer<typeof Misclassified>

export const EvaluationReport = z.object({
  accuracy: z.number(),
  loss: z.number(),
  classes: z.array(z.string().max(MAX_LABEL_LENGTH)).max(MAX_CLASSES),
  /** confusion[true][predicted] */
  confusion: z.array(z.array(z.number().int())),
  perClass: z.array(ClassMetrics),
  misclassified: z.array(Misclassified),
  skipped: z.array(SkippedFile)
})
export type EvaluationReport = z.infer<typeof EvaluationReport>

/** A file a saved folder names: a plain name inside that folder, never a path. */
const PlainFileName = z
  .string()
  .min(1)
  .max(255)
  .refine((name) => !/[/\\]/.test(name) && name !== '.' && name !== '..' && !name.includes('\0'), 'must be a plain file name inside the folder')
export const FileRecord = z.object({
  name: PlainFileName,
  /** 4 bytes per parameter, plus the model's JSON. */
  bytes: z
    .number()
    .int()
    .min(0)
    .max(MAX_PARAMETERS * 4 + 64 * 1024 * 1024),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hexadecimal digits')
})
export type FileRecord = z.infer<typeof FileRecord>

/** Numbers in all the centroids of one model's feature statistics (metadata.json stays small). */
export const MAX_FEATURE_STAT_VALUES = 1_000_000
/**
 * Where the training photos lie in the model's pooled backbone features, so a photo unlike all of
 * them (a cat given to an ants-vs-bees model) can be told apart from a photo of a known class.
 */
export const FeatureStats = z
  .object({
    /** The layer whose output is measured: the head's pooling (or flatten) layer. */
    layer: LayerName,
    /** How far a photo is from a centroid. */
    metric: z.literal('euclidean'),
    /** One mean feature vector a class, in label order. */
    centroids: z.array(z.array(z.number()).max(MAX_FEATURE_STAT_VALUES)).min(2).max(MAX_CLASSES),
    /** A class's distance threshold: this percentile of its training photos' distances to its centroid. */
    thresholds: z.array(z.number().positive()).min(2).max(MAX_CLASSES),
    percentile: z.number().min(0).max(100),
    /** Training photos measured. */
    images: z.number().int().min(0)
  })
  .refine((s) => s.centroids.length === s.thresholds.length, 'one threshold a centroid')
  .refine((s) => s.centroids.every((c) => c.length === s.centroids[0].length), 'centroids of one length')
  .refine((s) => s.centroids.length * (s.centroids[0]?.length ?? 0) <= MAX_FEATURE_STAT_VALUES, `more than ${MAX_FEATURE_STAT_VALUES} values`)
export type FeatureStats = z.infer<typeof FeatureStats>

export const ModelMetadata = z.object({
  format: z.literal('transfer-studio-model'),
  formatVersion: z.literal(1),
  appVersion: z.string().max(100),
  createdAt: z.string().max(100),
  /** Class names in the order of the model's outputs. */
  labels: z.array(z.string().max(MAX_LABEL_LENGTH)).min(2).max(MAX_CLASSES),
  backbone: z.string().max(100),
  preprocess: PreprocessMode,
  /** Side of the square RGB images the model takes (before any resize layer inside it). */
  inputSize: z.number().int().min(MIN_INPUT_SIZE).max(MAX_INPUT_SIZE),
  head: HeadConfig,
  freeze: FreezeSpec,
  frozenLayers: z.array(LayerName).max(MAX_LAYERS),
  /** How it was trained here; null for a model imported from a Keras file and not trained since. */
  training: TrainConfigFields.omit({ out: true }).nullable(),
  /** The epoch whose weights were saved (the best one when the best is restored); absent on older and imported models. */
  savedEpoch: z.number().int().min(1).max(MAX_EPOCHS).optional(),
  /** The Keras file an imported model came from. */
  source: z
    .object({
      kind: z.literal('keras'),
      file: z.string().max(4096),
      format: z.string().max(100),
      kerasVersion: z.string().max(100).nullable(),
      sha256: z.string().max(64)
    })
    .optional(),
  metrics: z.object({
    loss: z.number().nullable(),
    acc: z.number().nullable(),
    val_loss: z.number().nullable(),
    val_acc: z.number().nullable(),
    val_count: z.number().int().nullable().optional(),
    test_acc: z.number().nullable(),
    epochs: z.number().int().min(0).max(MAX_EPOCHS)
  }),
  /** SHA-256 of every other file of the model, so a damaged copy is refused. */
  files: z.array(FileRecord).min(1).max(16),
  /** Absent in models saved before it was recorded and in imported ones: they mark only low probabilities. */
  featureStats: FeatureStats.optional()
})
export type ModelMetadata = z.infer<typeof ModelMetadata>

/** A run's run.json: what it was started with, written when it starts. */
export const RunRecord = z.object({
  config: TrainConfig,
  appVersion: z.string().max(100),
  startedAt: z.string().max(100),
  /** When it was last resumed, if ever. */
  resumedAt: z.string().max(100).optional(),
  /** The name the user gave it in the Runs view. */
  name: z.string().max(200).optional()
})
export type RunRecord = z.infer<typeof RunRecord>

const TrackerState = z.object({ best: z.number().nullable(), wait: z.number().int().min(0).max(MAX_EPOCHS) })
/** JSON has no NaN: a diverged epoch's loss was written as null, and is NaN again when read. */
const SavedNumber = z
  .number()
  .nullable()
  .transform((value) => value ?? Number.NaN)

/** A run's state/state.json: what it needs to continue after its last completed epoch. */
export const RunStateRecord = z.object({
  config: TrainConfig,
  epochsDone: z.number().int().min(1).max(MAX_EPOCHS),
  history: z.array(EpochMetrics.extend({ loss: SavedNumber, acc: SavedNumber })).max(MAX_EPOCHS),
  lr: z.number().min(0).max(10),
  bestEpoch: z.number().int().min(1).max(MAX_EPOCHS).nullable(),
  trackers: z.object({ best: TrackerState, early: TrackerState.nullable(), plateau: TrackerState.nullable() }),
  seconds: z.number().min(0),
  /** The phase of a two-phase run its saved weights belong to (which layers they cover). */
  phase: z.union([z.literal(1), z.literal(2)]).optional(),
  /** The classes the run trains, in output order (absent in states written before it was recorded). */
  classes: z.array(z.string().max(MAX_LABEL_LENGTH)).min(2).max(MAX_CLASSES).optional()
})
export type RunStateRecord = z.infer<typeof RunStateRecord>

/** An index of tensors saved one after another in a .bin file of a run's state. */
export const TensorIndex = z
  .object({
    names: z.array(z.string().max(500)).max(MAX_LAYERS * 4),
    shapes: z.array(z.array(z.number().int().min(0).max(MAX_PARAMETERS)).max(8)).max(MAX_LAYERS * 4)
  })
  .refine((index) => index.names.length === index.shapes.length, 'names and shapes differ in length')
  .refine(
    (index) => index.shapes.reduce((total, shape) => total + shape.reduce((n, d) => n * d, 1), 0) <= MAX_PARAMETERS,
    `more than ${MAX_PARAMETERS} values in all`
  )
export type TensorIndex = z.infer<typeof TensorIndex>

export const TrainEvent = z.discriminatedUnion('event', [
  /** The run's folder, where its resumable state is saved after every epoch. */
  z.object({ event: z.literal('run'), runDir: z.string(), resumed: z.boolean() }),
  z.object({
    event: z.literal('status'),
    phase: z.enum(['loading', 'extracting', 'training', 'saving']),
    message: z.string(),
    done: z.number().int().optional(),
    total: z.number().int().optional(),
    /** Seconds left in this step at the rate measured so far (feature extraction). */
    eta: z.number().min(0).optional()
  }),
  z.object({ event: z.literal('path'), path: z.enum(['cached-features', 'end-to-end']), reason: z.string() }),
  z.object({
    event: z.literal('batch'),
    epoch: z.number().int(),
    batch: z.number().int(),
    batches: z.number().int(),
    loss: z.number(),
    acc: z.number(),
    eta: z.number()
  }),
  EpochMetrics.extend({ event: z.literal('epoch'), epochs: z.number().int(), eta: z.number(), best: z.boolean() }),
  z.object({ event: z.literal('skipped'), file: z.string(), reason: z.string() }),
  z.object({ event: z.literal('notice'), message: z.string() }),
  /** A two-phase run unfreezes its chosen layers: `epoch` is the first epoch of phase 2. */
  z.object({ event: z.literal('phase'), phase: z.literal(2), epoch: z.number().int(), message: z.string() }),
  z.object({
    event: z.literal('done'),
    val_acc: z.number().nullable(),
    val_count: z.number().int().nullable().optional(),
    test_acc: z.number().nullable(),
    seconds: z.number(),
    model: z.string(),
    epochs: z.number().int(),
    stopped: z.enum(['completed', 'early-stopping', 'stopped']),
    /** The epoch whose weights the model holds; null when nothing was trained and no model was saved. */
    savedEpoch: z.number().int().nullable().optional(),
    /** The epoch the monitored metric was best at (null without any). */
    bestEpoch: z.number().int().nullable().optional()
  })
])
export type TrainEvent = z.infer<typeof TrainEvent>

// Commands a host sends to the engine process. Paths are absolute: the host resolves them
// and checks them against what the user opened before anything reaches the engine.
const MAX_PATH = 4096
const Path = z.string().min(1).max(MAX_PATH)

export const ImageUpload = z.object({
  name: z.string().min(1).max(500),
  /** The file's bytes, base64: dropped files have no path in a browser. */
  data: z.string().max(70_000_000)
})
export type ImageUpload = z.infer<typeof ImageUpload>

/** How a run ended, as its folder tells: `incomplete` is one that crashed, failed or is still running. */
export const RunStatus = z.enum(['completed', 'early-stopping', 'stopped', 'incomplete'])
export type RunStatus = z.infer<typeof RunStatus>

export const RunSummary = z.object({
  dir: z.string(),
  startedAt: z.string(),
  backbone: z.string(),
  data: z.string(),
  epochs: z.number().int(),
  modelDir: z.string().nullable(),
  metrics: ModelMetadata.shape.metrics.nullable(),
  /** The name given in the Runs view; null: none (the folder's name stands for it). */
  name: z.string().nullable(),
  /** The settings it was started with. */
  config: TrainConfig,
  status: RunStatus,
  /** Epochs whose state was saved (what a resume continues after). */
  epochsDone: z.number().int(),
  /** Whether Resume can continue it (stopped, or never finished). */
  resumable: z.boolean(),
  /** Layers the saved model keeps frozen. */
  frozenLayers: z.number().int().nullable(),
  /** The epoch whose weights the saved model holds, when the model says. */
  savedEpoch: z.number().int().nullable()
})
export type RunSummary = z.infer<typeof RunSummary>

export const ImagePage = z.object({ total: z.number().int(), files: z.array(z.string()) })
export type ImagePage = z.infer<typeof ImagePage>

/** The photos directly inside a folder (to classify them all), and the files that are not photos. */
export const FolderImages = z.object({ dir: z.string(), files: z.array(z.string()), skipped: z.array(SkippedFile) })
export type FolderImages = z.infer<typeof FolderImages>

export const EngineCommand = z.discriminatedUnion('command', [
  z.object({ command: z.literal('info') }),
  z.object({ command: z.literal('listBackbones') }),
  z.object({
    command: z.literal('scan'),
    dir: Path,
    valSplit: z.number().gt(0).lt(1).optional(),
    seed: z.number().int().optional()
  }),
  /** A page of one class's images in one split of a scanned dataset (for the thumbnail grid). */
  z.object({
    command: z.literal('listImages'),
    dir: Path,
    split: SplitName,
    label: z.string().max(500),
    offset: z.number().int().min(0),
    limit: z.number().int().min(1).max(100_000)
  }),
  /** The photos directly inside a folder; the host opens the folder as `scan` does. */
  z.object({ command: z.literal('listFolderImages'), dir: Path }),
  z.object({
    command: z.literal('classifyImageNet'),
    backbone: z.string().max(100),
    files: z.array(Path).min(1).max(1000),
    top: z.number().int().min(1).max(1000).optional()
  }),
  /** Classify uploaded images with a trained model or a backbone's ImageNet classifier. */
  z.object({
    command: z.literal('classifyImages'),
    model: Path.optional(),
    backbone: z.string().max(100).optional(),
    images: z.array(ImageUpload).min(1).max(100),
    top: z.number().int().min(1).max(1000).optional()
  }),
  z.object({
    command: z.literal('describeModel'),
    backbone: z.string().max(100),
    /** A saved model to continue training (TrainConfig.startFrom): its own layers, described instead of the backbone's. */
    startFrom: Path.optional(),
    head: HeadConfig.optional(),
    freeze: FreezeSpec.optional(),
    classes: z.number().int().min(2).max(100_000).optional(),
    inputSize: z.number().int().min(8).max(1024).optional()
  }),
  /** Times a few training steps once per engine session (cached): the layer tree's estimates divide by it. */
  z.object({ command: z.literal('measureTrainingSpeed') }),
  z.object({ command: z.literal('train'), config: TrainConfig }),
  z.object({ command: z.literal('findLearningRate'), config: TrainConfig }),
  z.object({
    command: z.literal('resumeTraining'),
    runDir: Path,
    /**
     * The folders the user opened, filled in by the host (never taken from a client): the dataset
     * folders the run's files name must lie inside them. Without it the engine does not confine them.
     */
    openedFolders: z.array(Path).max(1000).optional(),
    /** Where to save the model instead of the run's own folder (a path the host chose, never one read from the run). */
    out: Path.optional()
  }),
  z.object({ command: z.literal('stopTraining') }),
  /** Classify image files with a trained model (the command line's predict --model). */
  z.object({
    command: z.literal('predictWithModel'),
    model: Path,
    files: z.array(Path).min(1).max(1000),
    top: z.number().int().min(1).max(1000).optional()
  }),
  z.object({ command: z.literal('evaluateModel'), model: Path, data: Path }),
  z.object({ command: z.literal('readEvaluation'), runDir: Path }),
  z.object({ command: z.literal('listRuns') }),
  z.object({ command: z.literal('readModel'), model: Path }),
  /** A Keras model file (.h5, .keras; or save_weights .h5 + its to_json architecture) saved as a studio model in `out`. */
  z.object({
    command: z.literal('importKeras'),
    file: Path,
    /** Where the model is saved; a new folder under the studio home's models/ when absent (the app's import). */
    out: Path.optional(),
    preprocess: PreprocessMode,
    labels: z.array(z.string().min(1).max(500)).min(2).max(100_000).optional(),
    architecture: Path.optional()
  }),
  /** Renames a run (stored in its run.json); an empty name removes it. */
  z.object({ command: z.literal('renameRun'), runDir: Path, name: z.string().max(200) }),
  /** Deletes a run's folder: only a run folder in the studio home holding nothing but what we wrote. */
  z.object({ command: z.literal('deleteRun'), runDir: Path }),
  /** A run's per-epoch history (from its saved state). */
  z.object({ command: z.literal('runHistory'), runDir: Path }),
  /** A run's history as Keras' CSVLogger writes it, saved as history.csv in the run's folder. */
  z.object({ command: z.literal('exportRunCsv'), runDir: Path }),
  /** A studio model written as a Keras HDF5 file (model.h5 in the model's folder when `out` is absent). */
  z.object({ command: z.literal('exportKeras'), model: Path, out: Path.optional() }),
  /** A sample dataset downloaded (weights mirror honoured) and unpacked into the studio home, once. */
  z.object({ command: z.literal('downloadSample'), sample: z.enum(['hymenoptera']) })
])
export type EngineCommand = z.infer<typeof EngineCommand>
/** What a sender writes: defaults may be left out. */
export type EngineCommandInput = z.input<typeof EngineCommand>

// The envelope is checked apart from the command, so a malformed command still gets an answer.
export const EngineRequest = z.object({ id: z.number().int().nonnegative(), body: z.unknown() })
export type EngineRequest = z.infer<typeof EngineRequest>

export const EngineEvent = z.discriminatedUnion('event', [
  z.object({ event: z.literal('download'), requestId: z.number().int(), progress: DownloadProgress }),
  z.object({ event: z.literal('scan'), requestId: z.number().int(), progress: ScanProgress }),
  z.object({ event: z.literal('train'), requestId: z.number().int(), data: TrainEvent }),
  /** Something the user should know that does not stop the command (a damaged weights cache downloaded again). */
  z.object({ event: z.literal('notice'), requestId: z.number().int(), message: z.string() }),
  /** From a host, not the engine: the engine process died and was restarted. */
  z.object({ event: z.literal('engine-restarted'), message: z.string() })
])
export type EngineEvent = z.infer<typeof EngineEvent>

export const EngineReply = z.union([
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.number().int(), ok: z.literal(false), error: z.string() })
])
export type EngineReply = z.infer<typeof EngineReply>

/** Turns a schema failure into one sentence a person can act on. */
export function describeSchemaError(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') + ': ' : ''}${issue.message}`).join('; ')
}
