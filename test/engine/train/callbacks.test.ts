import { describe, expect, it } from 'vitest'
import { plateauRate, shouldStop, Tracker, watched } from '../../../src/engine/train/callbacks'

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
