// The fuse script against an Electron-shaped binary: Electron itself is not installed here, so the
// file is built with the fuse wire Electron 45 ships (sentinel, version 1, nine fuses as ASCII
// '0'/'1') inside random bytes; @electron/fuses finds and rewrites it exactly as in a real binary.
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { FuseState, FuseV1Options, getCurrentFuseWire } from '@electron/fuses'
import { describe, expect, it } from 'vitest'
import { ROOT, tempDir } from '../helpers'

interface Context {
  appOutDir: string
  electronPlatformName: string
  packager: { appInfo: { productFilename: string }; executableName?: string }
}
const script = (await import(pathToFileURL(path.join(ROOT, 'scripts', 'flip-fuses.mjs')).href)) as {
  default: (context: Context) => Promise<void>
  packagedExecutable: (context: Context) => string
  flipPackagedFuses: (executable: string) => Promise<void>
}

/** The marker Electron compiles in before its fuse wire (electron/build/fuses/build_fuses.py). */
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX'
// RunAsNode on, cookie encryption off, NODE_OPTIONS on, --inspect on, asar integrity off,
// only-asar off, browser V8 snapshot off, file:// privileges on, wasm trap handlers on.
const ELECTRON_DEFAULTS = '101100011'

function fakeElectron(file: string, wire = ELECTRON_DEFAULTS): { before: Buffer; wireAt: number } {
  const head = randomBytes(300_000)
  const fuses = Buffer.concat([Buffer.from(SENTINEL), Buffer.from([1, wire.length]), Buffer.from(wire)])
  const bytes = Buffer.concat([head, fuses, randomBytes(200_000)])
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, bytes)
  return { before: bytes, wireAt: head.length + SENTINEL.length + 2 }
}

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')

describe('flip-fuses (electron-builder afterPack)', () => {
  it('turns off run-as-node, NODE_OPTIONS and --inspect, turns on cookie encryption and asar-only, and touches nothing else', async () => {
    const appOutDir = tempDir('ts-fuses-')
    const context = {
      appOutDir,
      electronPlatformName: 'linux',
      packager: { appInfo: { productFilename: 'Transfer Studio' }, executableName: 'transfer-studio' }
    }
    const binary = path.join(appOutDir, 'transfer-studio')
    const { before, wireAt } = fakeElectron(binary)
    await script.default(context)

    const wire = await getCurrentFuseWire(binary)
    expect(wire[FuseV1Options.RunAsNode]).toBe(FuseState.DISABLE)
    expect(wire[FuseV1Options.EnableCookieEncryption]).toBe(FuseState.ENABLE)
    expect(wire[FuseV1Options.EnableNodeOptionsEnvironmentVariable]).toBe(FuseState.DISABLE)
    expect(wire[FuseV1Options.EnableNodeCliInspectArguments]).toBe(FuseState.DISABLE)
    expect(wire[FuseV1Options.OnlyLoadAppFromAsar]).toBe(FuseState.ENABLE)
    // Left as shipped, on purpose (see the script).
    expect(wire[FuseV1Options.EnableEmbeddedAsarIntegrityValidation]).toBe(FuseState.DISABLE)
    expect(wire[FuseV1Options.GrantFileProtocolExtraPrivileges]).toBe(FuseState.ENABLE)
    expect(wire[FuseV1Options.WasmTrapHandlers]).toBe(FuseState.ENABLE)

    const after = fs.readFileSync(binary)
    expect(after.length).toBe(before.length)
    expect(sha(after.subarray(0, wireAt))).toBe(sha(before.subarray(0, wireAt)))
    expect(sha(after.subarray(wireAt + ELECTRON_DEFAULTS.length))).toBe(sha(before.subarray(wireAt + ELECTRON_DEFAULTS.length)))
  })

  it('finds the binary electron-builder produced on each platform', () => {
    const packager = { appInfo: { productFilename: 'Transfer Studio' }, executableName: 'transfer-studio' }
    expect(script.packagedExecutable({ appOutDir: '/out', electronPlatformName: 'linux', packager })).toBe('/out/transfer-studio')
    expect(script.packagedExecutable({ appOutDir: '/out', electronPlatformName: 'win32', packager })).toBe('/out/Transfer Studio.exe')
    expect(script.packagedExecutable({ appOutDir: '/out', electronPlatformName: 'darwin', packager })).toBe('/out/Transfer Studio.app')
    expect(() => script.packagedExecutable({ appOutDir: '/out', electronPlatformName: 'aix', packager })).toThrow(/no Electron binary known for platform aix/)
  })

  it('flips the framework inside a macOS .app bundle', async () => {
    const app = path.join(tempDir('ts-fuses-'), 'Transfer Studio.app')
    const framework = path.join(app, 'Contents', 'Frameworks', 'Electron Framework.framework', 'Electron Framework')
    fakeElectron(framework)
    await script.flipPackagedFuses(app)
    expect((await getCurrentFuseWire(app))[FuseV1Options.RunAsNode]).toBe(FuseState.DISABLE)
  })

  it('fails loudly on a file that is not an Electron binary', async () => {
    const file = path.join(tempDir('ts-fuses-'), 'not-electron')
    fs.writeFileSync(file, randomBytes(10_000))
    await expect(script.flipPackagedFuses(file)).rejects.toThrow(/Could not find sentinel/)
  })
})
