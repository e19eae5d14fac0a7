// Dropped photos travel to the engine base64-encoded inside a message (WebSocket or IPC). All of
// them in one message broke the server's 80 MiB message cap; one message per photo would make the
// engine load the model again for every photo. So they go in groups of a few MiB, and a photo
// larger than a group on its own.

/** The protocol's limit on one image's base64 text (ImageUpload.data in shared/protocol.ts). */
export const MAX_UPLOAD_CHARS = 70_000_000
/** The largest photo that fits: base64 turns every 3 bytes into 4 characters. */
export const MAX_UPLOAD_BYTES = Math.floor(MAX_UPLOAD_CHARS / 4) * 3
/** Raw bytes per message; base64 adds a third, still far below the message cap. */
export const BATCH_BYTES = 8 * 1024 * 1024
/** Images per message (classifyImages takes at most 100). */
export const BATCH_COUNT = 32

/** Splits photos of these sizes into groups, in order, each within `maxBytes` unless one photo alone exceeds it. */
export function uploadBatches(sizes: number[], maxBytes = BATCH_BYTES, maxCount = BATCH_COUNT): number[][] {
  const batches: number[][] = []
  let current: number[] = []
  let bytes = 0
  sizes.forEach((size, index) => {
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxCount)) {
      batches.push(current)
      current = []
      bytes = 0
    }
    current.push(index)
    bytes += size
  })
  if (current.length > 0) batches.push(current)
  return batches
}
