// Float buffers for batches (cached features, preprocessed images), used again once tfjs has let
// go of them. A fresh 3-26 MB array a batch (MobileNet's and ResNet50's cut features, batch 32)
// cost more than the copy into it: zeroing, page faults, and garbage collection whose threads
// compete with the training step's for the cores (measured: 0.5-20 ms a batch fresh against
// 0.1-1.2 ms reused).
import * as tf from '@tensorflow/tfjs'

interface Lent {
  buffer: Float32Array
  tensor: tf.Tensor
  backend: tf.KernelBackend
}

export class BatchBuffers {
  private readonly free: Float32Array[] = []
  private readonly lent: Lent[] = []

  /** The most buffers lent at once (the training step may hold several batches, fit.ts). */
  private mostLent = 0

  /**
   * Idle buffers kept: at most `keep` (a batch size, the last batch's, and validation's) or, when
   * more were lent at once, that many.
   */
  constructor(private readonly keep = 3) {}

  /** A buffer of `length` floats: one tfjs no longer holds, else a new one. Its contents are stale. */
  take(length: number): Float32Array {
    this.reclaim()
    const at = this.free.findIndex((b) => b.length === length)
    return at >= 0 ? this.free.splice(at, 1)[0] : new Float32Array(length)
  }

  /**
   * Makes `count` buffers of `length` floats ready, written through once, for a step that will hold
   * that many batches at once (fit.ts). The native step's first run takes one batch, so the first
   * epoch holds one full batch fewer at once than the next: that epoch paid for the last buffer in
   * page faults (784 of them, 14 ms, in an epoch of (a) of bench/finetune.ts that took ~100).
   * Returns how many it made.
   */
  reserve(count: number, length: number): number {
    this.reclaim()
    const have = [...this.free, ...this.lent.map((l) => l.buffer)].filter((b) => b.length === length).length
    for (let i = have; i < count; i++) this.free.push(new Float32Array(length).fill(0))
    // Kept as idle buffers, beside the epoch's last (shorter) batch.
    this.mostLent = Math.max(this.mostLent, count + 1)
    return Math.max(0, count - have)
  }

  /** A tensor over `values` (taken from here): the buffer returns when the tensor's data is released. */
  tensor(values: Float32Array, shape: number[]): tf.Tensor {
    const tensor = tf.tensor(values, shape, 'float32')
    this.lent.push({ buffer: values, tensor, backend: tf.engine().backend })
    this.mostLent = Math.max(this.mostLent, this.lent.length)
    return tensor
  }

  private reclaim(): void {
    // Disposed is not enough: a reshape or clone of the tensor may still read the same values.
    const released = (l: Lent) => l.tensor.isDisposed && l.backend.refCount(l.tensor.dataId) === 0
    this.free.push(...this.lent.filter(released).map((l) => l.buffer))
    this.lent.splice(0, this.lent.length, ...this.lent.filter((l) => !released(l)))
    this.free.splice(0, Math.max(0, this.free.length - Math.max(this.keep, this.mostLent)))
  }
}
