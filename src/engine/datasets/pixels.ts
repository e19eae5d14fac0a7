import { decodeImage, resizeRgb, type RgbImage } from '../images/decode'
import { CIFAR_SIDE, planesToRgb } from './cifar'
import type { ImageRef } from './types'

/** RGB pixels of any dataset image, at `size` x `size` or at their own size when null. */
export async function loadPixels(ref: ImageRef, size: number | null): Promise<RgbImage> {
  if (ref.kind === 'file') return decodeImage(ref.path, size)
  const image = { data: planesToRgb(ref.planes), width: CIFAR_SIDE, height: CIFAR_SIDE }
  return size === null ? image : resizeRgb(image, size)
}
