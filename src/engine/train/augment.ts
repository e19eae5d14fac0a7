// Random augmentation of a training batch, as Keras' ImageDataGenerator does it: flips, rotation,
// zoom, shear (one projective transform per image, edges filled with the nearest pixel) and
// brightness. Parameters come from the run's seeded generator, so a seed repeats a run exactly.
import * as tf from '@tensorflow/tfjs'
import type { Augmentation } from '../../shared/protocol'

export function isAugmenting(a: Augmentation | null): a is Augmentation {
  return a !== null && (a.flipHorizontal || a.flipVertical || a.rotate > 0 || a.zoom > 0 || a.shear > 0 || a.brightness > 0)
}

const radians = (degrees: number): number => (degrees * Math.PI) / 180

/**
 * The 8 numbers tf.image.transform wants for one image: the map from an output pixel back to the
 * input pixel it samples, built around the image centre.
 */
export function transformFor(a: Augmentation, size: number, random: () => number): number[] {
  const uniform = (limit: number): number => (random() * 2 - 1) * limit
  const theta = radians(uniform(a.rotate))
  const shear = radians(uniform(a.shear))
  const zx = 1 + uniform(a.zoom)
  const zy = 1 + uniform(a.zoom)
  const fx = a.flipHorizontal && random() < 0.5 ? -1 : 1
  const fy = a.flipVertical && random() < 0.5 ? -1 : 1
  // input = C + R(theta) * Shear * Zoom * Flip * (output - C), with Keras' shear matrix
  // [[1, -sin s], [0, cos s]]; zoom > 1 samples a larger area (zooms out).
  const cos = Math.cos(theta)
  const sin = Math.sin(theta)
  const a00 = cos * zx * fx
  const a01 = (cos * -Math.sin(shear) - sin * Math.cos(shear)) * zy * fy
  const a10 = sin * zx * fx
  const a11 = (sin * -Math.sin(shear) + cos * Math.cos(shear)) * zy * fy
  const c = (size - 1) / 2
  return [a00, a01, c - a00 * c - a01 * c, a10, a11, c - a10 * c - a11 * c, 0, 0]
}

/** `pixels`: float RGB 0..255, [N, H, W, 3]. Returns a new tensor in the same range. */
export function augmentBatch(pixels: tf.Tensor4D, a: Augmentation, random: () => number): tf.Tensor4D {
  const [n, size] = pixels.shape
  const transforms = Array.from({ length: n }, () => transformFor(a, size, random))
  const deltas = Array.from({ length: n }, () => (random() * 2 - 1) * a.brightness * 255)
  return tf.tidy(() => {
    let out: tf.Tensor4D = pixels
    if (a.rotate > 0 || a.zoom > 0 || a.shear > 0 || a.flipHorizontal || a.flipVertical) {
      out = tf.image.transform(out, tf.tensor2d(transforms, [n, 8]), 'bilinear', 'nearest')
    }
    if (a.brightness > 0) out = out.add(tf.tensor4d(deltas, [n, 1, 1, 1])).clipByValue(0, 255) as tf.Tensor4D
    return out
  })
}
