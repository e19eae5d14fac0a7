// When a prediction should not be trusted, said in one line. A softmax always sums to 1 over the
// classes it knows, so a photo of something else still gets a confident-looking answer: the
// probability alone cannot catch it, the distance to the training photos' features can.
import type { UnsureMark } from './protocol'

/** Below this top probability the model is guessing between classes. */
export const LOW_PROBABILITY = 0.6
/** A class's training photos beyond this percentile of distance to its centroid count as unlike it. */
export const NOVELTY_PERCENTILE = 99

/**
 * The mark for a prediction whose best class has probability `top`, and whose features lie
 * `novelty` thresholds from the nearest training class (null when the model keeps no statistics).
 */
export function unsureMark(top: number, novelty: number | null | undefined): UnsureMark | null {
  if (novelty != null && novelty > 1) {
    return {
      reason: 'unlike-training',
      message: `Unsure: unlike the training photos (farther from every class than ${NOVELTY_PERCENTILE} % of its own training photos)`
    }
  }
  if (top < LOW_PROBABILITY) {
    return {
      reason: 'low-probability',
      message: `Unsure: the best class gets only ${(top * 100).toFixed(0)} % (below ${LOW_PROBABILITY * 100} %)`
    }
  }
  return null
}
