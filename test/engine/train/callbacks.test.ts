import { describe, expect, it } from 'vitest'
import { EarlyStopping, plateauRate, ReduceLrOnPlateau, shouldStop, Tracker, watched } from '../../../src/engine/train/callbacks'
import { CallbackList, type FitState } from '../../../src/engine/train/fit'
import type { TrainingStep } from '../../../src/engine/train/step'

const epoch = (val_loss: number, val_acc = 0) => ({ epoch: 1, loss: 1, acc: 0, val_loss, val_acc, lr: 0.1, seconds: 0 })

describe('Keras callback semantics', () => {
  it('EarlyStopping(patience=2) stops after two epochs without improvement', () => {
    const tracker = new Tracker('val_loss')
    const stops = [1.0, 0.8, 0.9, 0.85, 0.7].map((v) => (tracker.update(epoch(v)), shouldStop(tracker, 2)))
    expect(stops).toEqual([false, false, false, true, false])
  })

  it('watches accuracy upwards and falls back to training metrics without validation data', () => {
    const tracker = new Tracker('val_acc')
    expect([0.5, 0.6, 0.6].map((v) => tracker.update(epoch(1, v)))).toEqual([true, true, false])
    expect(watched('val_acc', false)).toBe('acc')
    expect(watched('val_loss', true)).toBe('val_loss')
  })

  it('ReduceLROnPlateau multiplies the rate by the factor after `patience` flat epochs, not below min_lr', () => {
    const tracker = new Tracker('val_loss')
    let lr = 0.1
    const rates = [1, 1, 1, 1, 1].map((v) => {
      tracker.update(epoch(v))
      lr = plateauRate(tracker, lr, { factor: 0.5, patience: 2, minLr: 0.03 })
      return lr
    })
    expect(rates).toEqual([0.1, 0.1, 0.05, 0.05, 0.03])
  })
})

describe('the callbacks of the fit loop', () => {
  // Only the learning rate of the step is touched by these callbacks: a step that records it.
  const fitState = (phase?: 1 | 2): FitState & { rates: number[] } => {
    const rates: number[] = []
    const step = { setLearningRate: (lr: number) => rates.push(lr) } as unknown as TrainingStep
    return { step, suffix: null!, lr: 0.1, history: [], stop: null, phase, lastVal: null, changedSinceScore: false, rates }
  }

  it('early stopping counts phase-2 epochs only, stops after `patience` of them and says so when the run ends', async () => {
    const notices: string[] = []
    const early = new EarlyStopping('val_loss', 1, (m) => notices.push(m))
    const list = new CallbackList([early, null])
    const state = fitState(1)
    for (const [i, v] of [1.0, 2.0, 3.0].entries()) await list.epochEnd({ ...epoch(v), epoch: i + 1 }, state)
    expect(state.stop).toBeNull() // phase 1 got worse twice: not counted
    state.phase = 2
    await list.epochEnd({ ...epoch(2.5), epoch: 4 }, state)
    expect(state.stop).toBeNull()
    await list.epochEnd({ ...epoch(2.6), epoch: 5 }, state)
    expect(state.stop).toBe('early-stopping')
    expect(notices).toEqual([])
    await list.trainEnd(state)
    expect(notices).toEqual(['Early stopping after epoch 5: val_loss has not improved for 1 epochs'])
  })

  it('a Stop already asked for is not turned into early stopping', async () => {
    const early = new EarlyStopping('val_loss', 1, () => {})
    const state = fitState()
    await early.onEpochEnd({ ...epoch(1), epoch: 1 }, state)
    state.stop = 'stopped'
    await early.onEpochEnd({ ...epoch(2), epoch: 2 }, state)
    expect(state.stop).toBe('stopped')
  })

  it('the plateau callback sets the rate on the state and the step, and starts counting again in phase 2', async () => {
    const notices: string[] = []
    const plateau = new ReduceLrOnPlateau('val_loss', { factor: 0.5, patience: 1, minLr: 0 }, (m) => notices.push(m))
    const state = fitState(1)
    await plateau.onEpochEnd({ ...epoch(1), epoch: 1 }, state)
    await plateau.onEpochEnd({ ...epoch(1), epoch: 2 }, state)
    expect(state.lr).toBe(0.05)
    expect(state.rates).toEqual([0.05])
    expect(notices).toEqual(['Epoch 2: learning rate reduced to 0.05'])
    plateau.onPhaseBegin()
    expect(plateau.tracker.state()).toEqual({ best: null, wait: 0 })
    state.lr = 0.01
    await plateau.onEpochEnd({ ...epoch(5), epoch: 3 }, state) // the first of phase 2 is an improvement, however high
    expect(state.lr).toBe(0.01)
  })
})
