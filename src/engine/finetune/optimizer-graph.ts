// The optimizer update as graph nodes, written as tfjs 4.22's optimizers compute it (operation by
// operation, so the weights follow the tfjs reference step after step) with the Keras defaults
// makeOptimizer() chooses. The per-weight state keeps tfjs's names and layout (`<weight>/m`, ...),
// so it can be handed to or taken from a tfjs optimizer when a run switches engines or resumes.
import type { TrainConfig } from '../../shared/protocol'
import type { OnnxGraph } from './onnx-graph'

const KERAS_EPSILON = 1e-7
const BETA1 = 0.9
const BETA2 = 0.999
const RMS_DECAY = 0.9

export type OptimizerSettings = Pick<TrainConfig, 'optimizer' | 'learningRate' | 'momentum'> & { nesterov?: boolean }

/** The state each weight carries, by tfjs's suffix for it. */
export function stateSlots(settings: OptimizerSettings): string[] {
  switch (settings.optimizer) {
    case 'adam':
      return ['m', 'v']
    case 'rmsprop':
      return ['rms', 'momentum']
    case 'sgd':
      return settings.momentum > 0 ? ['momentum'] : []
  }
}

/** Scalars fed each step besides the weights: the learning rate, and Adam's bias corrections. */
export const SCALARS = ['lr', 'adam_c1', 'adam_c2'] as const

/**
 * The values of SCALARS for optimizer step `iteration` (0 for the first), in float32 as tfjs
 * computes them: its `accBeta` variables start at beta and are multiplied by beta after each step.
 */
export function stepScalars(settings: OptimizerSettings, lr: number, iteration: number): Record<(typeof SCALARS)[number], number> {
  let acc1 = Math.fround(BETA1)
  let acc2 = Math.fround(BETA2)
  for (let i = 0; i < iteration; i++) {
    acc1 = Math.fround(acc1 * Math.fround(BETA1))
    acc2 = Math.fround(acc2 * Math.fround(BETA2))
  }
  return { lr, adam_c1: Math.fround(1 - acc1), adam_c2: Math.fround(1 - acc2) }
}

/** Nodes for one weight's update; returns the new weight and new state (in stateSlots' order). */
export function emitUpdate(
  g: OnnxGraph,
  settings: OptimizerSettings,
  weight: string,
  grad: string,
  state: string[],
  scalars: Record<(typeof SCALARS)[number], string>
) {
  const minusLr = g.node('Neg', [scalars.lr])
  switch (settings.optimizer) {
    case 'adam': {
      const [m, v] = state
      const m1 = g.node('Add', [g.node('Mul', [m, g.scalar(BETA1)]), g.node('Mul', [grad, g.scalar(1 - BETA1)])], {}, 'adam_m')
      const v1 = g.node('Add', [g.node('Mul', [v, g.scalar(BETA2)]), g.node('Mul', [g.node('Mul', [grad, grad]), g.scalar(1 - BETA2)])], {}, 'adam_v')
      const mHat = g.node('Div', [m1, scalars.adam_c1])
      const vHat = g.node('Div', [v1, scalars.adam_c2])
      const step = g.node('Div', [mHat, g.node('Add', [g.node('Sqrt', [vHat]), g.scalar(KERAS_EPSILON)])])
      return { weight: g.node('Add', [g.node('Mul', [step, minusLr]), weight], {}, 'adam_w'), state: [m1, v1] }
    }
    case 'rmsprop': {
      // tfjs's non-centred RMSprop with momentum 0, as makeOptimizer() builds it.
      const [rms, moment] = state
      const rms1 = g.node('Add', [g.node('Mul', [rms, g.scalar(RMS_DECAY)]), g.node('Mul', [g.node('Mul', [grad, grad]), g.scalar(1 - RMS_DECAY)])], {}, 'rms')
      const scaled = g.node('Div', [g.node('Mul', [grad, scalars.lr]), g.node('Sqrt', [g.node('Add', [rms1, g.scalar(KERAS_EPSILON)])])])
      const moment1 = g.node('Add', [g.node('Mul', [moment, g.scalar(0)]), scaled], {}, 'rms_moment')
      return { weight: g.node('Sub', [weight, moment1], {}, 'rms_w'), state: [rms1, moment1] }
    }
    case 'sgd': {
      if (settings.momentum === 0) return { weight: g.node('Add', [g.node('Mul', [minusLr, grad]), weight], {}, 'sgd_w'), state: [] }
      const mu = g.scalar(settings.momentum)
      const acc = g.node('Add', [g.node('Mul', [mu, state[0]]), grad], {}, 'sgd_acc')
      const direction = settings.nesterov ? g.node('Add', [grad, g.node('Mul', [acc, mu])]) : acc
      return { weight: g.node('Add', [g.node('Mul', [minusLr, direction]), weight], {}, 'sgd_w'), state: [acc] }
    }
  }
}
