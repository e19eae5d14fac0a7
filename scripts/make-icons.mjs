// @ts-check
// The application icon at every size Electron and Linux desktops use, from resources/icon.svg:
// resources/icons/<n>x<n>.png (the hicolor sizes; electron-builder's linux.icon takes the folder),
// resources/icon.png (512, BrowserWindow and macOS), resources/icon.ico (Windows, and the page's
// favicon: src/renderer/public/favicon.ico). Run after changing the SVG: node scripts/make-icons.mjs
// The PNGs are committed (they are small and ours), so a build needs nothing from here.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RESOURCES = path.join(ROOT, 'resources')
export const PNG_SIZES = [16, 24, 32, 48, 64, 128, 256, 512]
/** What Windows picks from for title bars, taskbars and Explorer; browsers for a favicon. */
export const ICO_SIZES = [16, 24, 32, 48, 64, 256]

/** @param {number} size */
function render(size) {
  const svg = fs.readFileSync(path.join(RESOURCES, 'icon.svg'))
  // Rendered at the size wanted (density scales the 512-unit drawing), not shrunk from 512.
  return sharp(svg, { density: (72 * size) / 512 })
    .resize(size, size)
    .png({ compressionLevel: 9, palette: size <= 64 })
    .toBuffer()
}

/**
 * An ICO file holding PNG images (allowed since Windows Vista; every browser reads it):
 * ICONDIR, one ICONDIRENTRY per image, then the PNGs.
 * @param {{ size: number, png: Buffer }[]} images
 */
export function icoOf(images) {
  const header = Buffer.alloc(6 + 16 * images.length)
  header.writeUInt16LE(0, 0)
  header.writeUInt16LE(1, 2) // 1: icon
  header.writeUInt16LE(images.length, 4)
  let offset = header.length
  images.forEach(({ size, png }, i) => {
    const at = 6 + 16 * i
    header.writeUInt8(size >= 256 ? 0 : size, at) // 0 means 256
    header.writeUInt8(size >= 256 ? 0 : size, at + 1)
    header.writeUInt8(0, at + 2) // no palette
    header.writeUInt8(0, at + 3)
    header.writeUInt16LE(1, at + 4) // colour planes
    header.writeUInt16LE(32, at + 6) // bits per pixel
    header.writeUInt32LE(png.length, at + 8)
    header.writeUInt32LE(offset, at + 12)
    offset += png.length
  })
  return Buffer.concat([header, ...images.map((image) => image.png)])
}

export async function makeIcons() {
  fs.mkdirSync(path.join(RESOURCES, 'icons'), { recursive: true })
  /** @type {Map<number, Buffer>} */
  const pngs = new Map()
  for (const size of new Set([...PNG_SIZES, ...ICO_SIZES])) pngs.set(size, await render(size))
  for (const size of PNG_SIZES) fs.writeFileSync(path.join(RESOURCES, 'icons', `${size}x${size}.png`), /** @type {Buffer} */ (pngs.get(size)))
  fs.writeFileSync(path.join(RESOURCES, 'icon.png'), /** @type {Buffer} */ (pngs.get(512)))
  const ico = icoOf(ICO_SIZES.map((size) => ({ size, png: /** @type {Buffer} */ (pngs.get(size)) })))
  fs.writeFileSync(path.join(RESOURCES, 'icon.ico'), ico)
  fs.mkdirSync(path.join(ROOT, 'src', 'renderer', 'public'), { recursive: true })
  fs.writeFileSync(path.join(ROOT, 'src', 'renderer', 'public', 'favicon.ico'), ico)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await makeIcons()
  console.log(`wrote resources/icons/{${PNG_SIZES.join(',')}}.png, resources/icon.png, resources/icon.ico, src/renderer/public/favicon.ico`)
}
