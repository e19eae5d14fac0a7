import * as tf from '@tensorflow/tfjs'
import type { TrainConfig } from '../../shared/protocol'

// Keras' defaults: Adam and RMSprop use epsilon 1e-7; RMSprop rho 0.9; SGD with plain momentum.
const KERAS_EPSILON = 1e-7

export function makeOptimizer(config: Pick<TrainConfig, 'optimizer' | 'learningRate' | 'momentum'>): tf.Optimizer {
  switch (config.optimizer) {
    case 'adam':
      return tf.train.adam(config.learningRate, 0.9, 0.999, KERAS_EPSILON)
    case 'rmsprop':
      return tf.train.rmsprop(config.learningRate, 0.9, 0, KERAS_EPSILON)
    case 'sgd':
      return config.momentum > 0 ? tf.train.momentum(config.learningRate, config.momentum) : tf.train.sgd(config.learningRate)
  }
}

/** Changes the learning rate of a live optimizer (ReduceLROnPlateau). */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  // SGD and momentum keep the rate in a tensor they rebuild in setLearningRate; Adam and
  // RMSprop read the plain field on every step.
  const target = optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void }
  if (target.setLearningRate) target.setLearningRate(lr)
  else target.learningRate = lr
}
