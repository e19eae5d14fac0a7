// Random augmentation of a training batch, as Keras' ImageDataGenerator does it: flips, rotation,
// zoom, shear (one projective transform per image, edges filled with the nearest pixel) and
// brightness. Parameters come from the run's seeded generator, so a seed repeats a run exactly.
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

/**
 * `pixels`: RGB values 0..255, N x size x size x 3. Returns new values in the same range.
 * The warp is tf.image.transform's (bilinear, edges filled with the nearest pixel), written out
 * here: tfjs' wasm kernel took about 5 s for a batch of 32 at 224x224 (its cpu kernel transforms
 * only the first image of a batch), which made augmented training crawl.
 */
export function augmentPixels(pixels: Uint8Array | Float32Array, count: number, size: number, a: Augmentation, random: () => number): Float32Array {
  const transforms = Array.from({ length: count }, () => transformFor(a, size, random))
  const deltas = Array.from({ length: count }, () => (random() * 2 - 1) * a.brightness * 255)
  const geometric = a.rotate > 0 || a.zoom > 0 || a.shear > 0 || a.flipHorizontal || a.flipVertical
  const out = new Float32Array(count * size * size * 3)
  const last = size - 1
  for (let n = 0; n < count; n++) {
    const image = n * size * size * 3
    const [t0, t1, t2, t3, t4, t5, t6, t7] = transforms[n]
    const delta = deltas[n]
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const o = image + (y * size + x) * 3
        if (!geometric) {
          for (let c = 0; c < 3; c++) out[o + c] = clamp(pixels[o + c] + delta, 0, 255)
          continue
        }
        const k = t6 * x + t7 * y + 1
        const sx = clamp((t0 * x + t1 * y + t2) / k, 0, last)
        const sy = clamp((t3 * x + t4 * y + t5) / k, 0, last)
        const x0 = Math.floor(sx)
        const y0 = Math.floor(sy)
        const fx = sx - x0
        const fy = sy - y0
        // At the last row or column the far neighbour has weight 0: reading the edge again is exact.
        const i00 = image + (y0 * size + x0) * 3
        const i01 = image + (y0 * size + Math.min(x0 + 1, last)) * 3
        const i10 = image + (Math.min(y0 + 1, last) * size + x0) * 3
        const i11 = image + (Math.min(y0 + 1, last) * size + Math.min(x0 + 1, last)) * 3
        for (let c = 0; c < 3; c++) {
          const top = (1 - fx) * pixels[i00 + c] + fx * pixels[i01 + c]
          const bottom = (1 - fx) * pixels[i10 + c] + fx * pixels[i11 + c]
          out[o + c] = clamp((1 - fy) * top + fy * bottom + delta, 0, 255)
        }
      }
    }
  }
  return out
}

const clamp = (v: number, low: number, high: number): number => (v < low ? low : v > high ? high : v)
