// Fine-tuning helpers the model view, the layer tree and the training charts share: how many
// photos an epoch sees, the estimate's wording, and where a two-phase run's second phase starts.
// The two-phase names follow helper h10's engine change (TrainConfig.twoPhase, EpochMetrics.phase,
// TrainEvent 'phase'), which lands with it: until then the engine ignores twoPhase.
import { epochCost, secondsPerEpoch, summaryLayers } from '../../shared/layer-cost'
import type { DatasetReport, EpochMetrics, ModelSummary, TrainingSpeed } from '../../shared/protocol'

/** TrainConfig.twoPhase: the head alone for headEpochs, then the unfrozen layers at learningRate (epochs is the total). */
export interface TwoPhase {
  headEpochs: number
  learningRate: number
}

/** TrainEvent { event: 'phase' } as the engine sends it when phase 2 begins. */
export interface PhaseEvent {
  event: 'phase'
  phase: 2
  epoch: number
  message: string
}

/** Training and validation photos one epoch goes through, from the scan. */
export function epochImages(report: DatasetReport | null): { train: number; val: number } | null {
  if (!report) return null
  const total = (name: string) => report.splits.find((s) => s.name === name)?.total ?? 0
  if (report.validation.kind === 'split') {
    const all = total('train')
    const val = Math.round(all * report.validation.fraction)
    return { train: all - val, val }
  }
  return { train: total('train'), val: total('val') }
}

export interface Estimate {
  trainableParameters: number
  /** Null until the machine's speed is known (or when it cannot be measured). */
  seconds: number | null
  text: string
}

export function estimateEpoch(
  summary: ModelSummary,
  frozen: ReadonlySet<string>,
  images: { train: number; val: number } | null,
  speed: TrainingSpeed | null
): Estimate {
  const cost = epochCost(summaryLayers(summary), frozen)
  const params = `${cost.trainableParameters.toLocaleString('en')} trainable parameters`
  if (cost.firstTrainable === null) return { trainableParameters: 0, seconds: 0, text: `${params}: nothing trains` }
  if (!images) return { trainableParameters: cost.trainableParameters, seconds: null, text: `${params} · open a dataset for the time per epoch` }
  if (!speed) return { trainableParameters: cost.trainableParameters, seconds: null, text: `${params} · measuring this machine's speed…` }
  if (speed.flopsPerSecond === null)
    return { trainableParameters: cost.trainableParameters, seconds: null, text: `${params} · no time estimate (${speed.engine})` }
  const seconds = secondsPerEpoch(cost, images, speed.flopsPerSecond)
  const gflop = ((cost.trainFlopsPerImage * images.train + cost.valFlopsPerImage * images.val) / 1e9).toFixed(1)
  return {
    trainableParameters: cost.trainableParameters,
    seconds,
    text: `${params} · ${formatSeconds(seconds)} per epoch (${gflop} GFLOP from ${cost.firstTrainable} on, ${images.train} + ${images.val} photos, at ${(speed.flopsPerSecond / 1e9).toFixed(1)} GFLOP/s ${speed.method})`
  }
}

/** An estimate as a person reads it: "under a second", else "about" a rounded time. */
export function formatSeconds(seconds: number): string {
  if (seconds < 1) return 'under a second'
  if (seconds < 90) return `about ${Math.round(seconds)} s`
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} min`
  return `about ${(seconds / 3600).toFixed(1)} h`
}

/**
 * The x (in epochs, as the charts count them: epoch n's point at x = n) where phase 2 begins: after
 * the last phase-1 epoch. Taken from the epochs' own phase when they carry it, else from the event.
 */
export function phaseTwoStart(epochs: readonly (EpochMetrics & { phase?: 1 | 2 })[], event: PhaseEvent | null): number | null {
  const first = epochs.find((e) => e.phase === 2)
  if (first) return first.epoch - 1
  return event ? event.epoch - 1 : null
}
