// The speed of a transfer over its last few seconds: a whole-transfer average would hide a link
// that slowed down, and a per-chunk rate jumps about too much to give a steady time left.
const WINDOW_MS = 5_000
/** Less than this much time measured says nothing yet. */
const MIN_SPAN_MS = 400

export class TransferSpeed {
  private readonly samples: { at: number; bytes: number }[] = []
  private offset = 0

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Bytes that were there before this transfer started (a resumed download): not part of its speed. */
  skip(bytes: number): void {
    this.offset += bytes
  }

  /** Total bytes so far (skipped ones included). */
  sample(bytes: number): void {
    const at = this.now()
    this.samples.push({ at, bytes: bytes - this.offset })
    while (this.samples.length > 2 && at - this.samples[1].at >= WINDOW_MS) this.samples.shift()
  }

  bytesPerSecond(): number | null {
    if (this.samples.length < 2) return null
    const first = this.samples[0]
    const last = this.samples.at(-1)!
    const span = last.at - first.at
    return span < MIN_SPAN_MS ? null : ((last.bytes - first.bytes) * 1000) / span
  }
}
