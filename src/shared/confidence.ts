// How far an accuracy measured on n images can be trusted: "40.0 %" on 20 photos could as well be
// 22 % or 61 %. The Wilson score interval stays inside [0, 1] and is sound at small n and at 0 or
// 100 %, where the textbook normal interval is not.

/** Below this many images an accuracy is shown with its 95 % interval. */
export const INTERVAL_BELOW_IMAGES = 100
const Z95 = 1.959963984540054

export interface Interval {
  low: number
  high: number
}

/** 95 % Wilson score interval of a proportion measured as `correct` of `n`. */
export function wilsonInterval(accuracy: number, n: number): Interval {
  if (!(n > 0)) return { low: 0, high: 1 }
  const z2 = Z95 * Z95
  const centre = (accuracy + z2 / (2 * n)) / (1 + z2 / n)
  const half = (Z95 / (1 + z2 / n)) * Math.sqrt((accuracy * (1 - accuracy)) / n + z2 / (4 * n * n))
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) }
}

/** " (95 % interval 21.9–61.3 %, 20 images)" below INTERVAL_BELOW_IMAGES images, else "". */
export function intervalNote(accuracy: number | null | undefined, n: number | null | undefined): string {
  if (accuracy === null || accuracy === undefined || Number.isNaN(accuracy) || !n || n >= INTERVAL_BELOW_IMAGES) return ''
  const { low, high } = wilsonInterval(accuracy, n)
  return ` (95 % interval ${(low * 100).toFixed(1)}–${(high * 100).toFixed(1)} %, ${n} image${n === 1 ? '' : 's'})`
}

/** "40.0 %", with its interval on few images. */
export function describeAccuracy(accuracy: number | null | undefined, n: number | null | undefined): string {
  if (accuracy === null || accuracy === undefined || Number.isNaN(accuracy)) return '–'
  return `${(accuracy * 100).toFixed(1)} %${intervalNote(accuracy, n)}`
}
