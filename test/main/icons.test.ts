// The application icon: every size Electron and Linux desktops use, an .ico for Windows and the
// page's favicon, all made from resources/icon.svg by scripts/make-icons.mjs, and the packaging
// configuration naming them.
import fs from 'node:fs'
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { ICO_SIZES, PNG_SIZES } from '../../scripts/make-icons.mjs'
import { ROOT } from '../helpers'

const RESOURCES = path.join(ROOT, 'resources')

/** The images an ICO file holds, as its directory describes them. */
function icoEntries(ico: Buffer): { width: number; height: number; png: Buffer }[] {
  expect([ico.readUInt16LE(0), ico.readUInt16LE(2)]).toEqual([0, 1])
  return Array.from({ length: ico.readUInt16LE(4) }, (_, i) => {
    const at = 6 + 16 * i
    const length = ico.readUInt32LE(at + 8)
    const offset = ico.readUInt32LE(at + 12)
    return { width: ico[at] || 256, height: ico[at + 1] || 256, png: ico.subarray(offset, offset + length) }
  })
}

describe('application icon', () => {
  it('has a PNG at each size, with transparency, drawn from the SVG', async () => {
    for (const size of PNG_SIZES) {
      const meta = await sharp(path.join(RESOURCES, 'icons', `${size}x${size}.png`)).metadata()
      expect([meta.format, meta.width, meta.height, meta.hasAlpha], `${size}x${size}.png`).toEqual(['png', size, size, true])
    }
    // The committed 512 px image is the SVG's drawing (re-rendered here the same way).
    const fresh = await sharp(path.join(RESOURCES, 'icon.svg'), { density: 72 }).resize(512, 512).raw().toBuffer()
    const committed = await sharp(path.join(RESOURCES, 'icon.png')).ensureAlpha().raw().toBuffer()
    expect(committed.length).toBe(fresh.length)
    let worst = 0
    for (let i = 0; i < fresh.length; i++) worst = Math.max(worst, Math.abs(fresh[i] - committed[i]))
    expect(worst).toBeLessThanOrEqual(2)
    // Corners are transparent (a rounded square), the middle is not.
    const { data } = await sharp(path.join(RESOURCES, 'icons', '32x32.png'))
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true })
    expect(data[3]).toBe(0)
    expect(data[(16 * 32 + 16) * 4 + 3]).toBe(255)
  })

  it('has an .ico whose entries are PNGs of the sizes they claim, and the favicon is that .ico', async () => {
    const ico = fs.readFileSync(path.join(RESOURCES, 'icon.ico'))
    const entries = icoEntries(ico)
    expect(entries.map((e) => e.width)).toEqual(ICO_SIZES)
    for (const entry of entries) {
      const meta = await sharp(entry.png).metadata()
      expect([meta.format, meta.width, meta.height]).toEqual(['png', entry.width, entry.height])
    }
    expect(fs.readFileSync(path.join(ROOT, 'src', 'renderer', 'public', 'favicon.ico')).equals(ico)).toBe(true)
    expect(fs.readFileSync(path.join(ROOT, 'src', 'renderer', 'index.html'), 'utf8')).toContain('<link rel="icon" href="/favicon.ico"')
  })

  it('is named, with the app id, by the electron-builder configuration, and given to the window', () => {
    const config = fs.readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8')
    expect(config).toMatch(/^appId: org\.transferstudio\.app$/m)
    for (const named of config.matchAll(/^\s+icon: (\S+)$/gm)) expect(fs.existsSync(path.join(ROOT, named[1])), named[1]).toBe(true)
    expect([...config.matchAll(/^\s+icon: (\S+)$/gm)].map((m) => m[1])).toEqual(['resources/icons', 'resources/icon.ico', 'resources/icon.png'])
    expect(fs.existsSync(path.join(ROOT, config.match(/^afterPack: (\S+)$/m)![1]))).toBe(true)
    expect(fs.readFileSync(path.join(ROOT, 'src', 'main', 'index.ts'), 'utf8')).toContain("path.join(here, '../../resources/icon.png')")
  })
})
