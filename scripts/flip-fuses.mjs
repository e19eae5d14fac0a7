// @ts-check
// Electron fuses for the packaged app: switches compiled into the Electron binary that no
// environment variable or command-line flag can turn back. Used as electron-builder's afterPack
// hook (`"afterPack": "scripts/flip-fuses.mjs"`), or by hand on a packaged app:
//   node scripts/flip-fuses.mjs <the packaged executable, or the .app on macOS>
// Each flip is read back from the binary afterwards: a fuse that did not take is an error.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { flipFuses, FuseState, FuseV1Options, FuseVersion, getCurrentFuseWire } from '@electron/fuses'

/** @type {Partial<Record<FuseV1Options, boolean>>} */
export const FUSES = {
  // ELECTRON_RUN_AS_NODE would make the app a plain Node for anyone who can set a variable.
  [FuseV1Options.RunAsNode]: false,
  [FuseV1Options.EnableCookieEncryption]: true,
  // NODE_OPTIONS (--require, --import) and --inspect would inject code into the main process.
  [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
  [FuseV1Options.EnableNodeCliInspectArguments]: false,
  // The app's code only from its asar archive, not from a folder placed beside it.
  [FuseV1Options.OnlyLoadAppFromAsar]: true
  // Left as Electron ships them: EnableEmbeddedAsarIntegrityValidation needs the packager to embed
  // the archive's hash (check the packager supports it before turning it on: without the hash the
  // app will not start), and GrantFileProtocolExtraPrivileges because the window loads its
  // renderer, ES modules included, from file://.
}

/**
 * The file the fuses live in for an electron-builder afterPack context (a .app on macOS, whose
 * framework @electron/fuses finds itself).
 * @param {{ appOutDir: string, electronPlatformName: string, packager: { appInfo: { productFilename: string }, executableName?: string } }} context
 */
export function packagedExecutable(context) {
  const { appOutDir, electronPlatformName, packager } = context
  const name = packager.appInfo.productFilename
  switch (electronPlatformName) {
    case 'darwin':
    case 'mas':
      return path.join(appOutDir, `${name}.app`)
    case 'win32':
      return path.join(appOutDir, `${name}.exe`)
    case 'linux':
      return path.join(appOutDir, packager.executableName ?? name)
    default:
      throw new Error(`flip-fuses: no Electron binary known for platform ${electronPlatformName}`)
  }
}

/**
 * Flips FUSES in the binary at `executable` and checks that each one now reads as set.
 * @param {string} executable
 * @param {{ resetAdHocDarwinSignature?: boolean }} [options]
 */
export async function flipPackagedFuses(executable, { resetAdHocDarwinSignature = false } = {}) {
  await flipFuses(executable, { version: FuseVersion.V1, resetAdHocDarwinSignature, ...FUSES })
  const wire = await getCurrentFuseWire(executable)
  for (const [option, enabled] of Object.entries(FUSES)) {
    const state = wire[/** @type {FuseV1Options} */ (Number(option))]
    if (state !== (enabled ? FuseState.ENABLE : FuseState.DISABLE)) {
      throw new Error(`flip-fuses: ${FuseV1Options[Number(option)]} reads ${state} in ${executable} after flipping`)
    }
  }
}

/**
 * electron-builder's afterPack hook.
 * @param {Parameters<typeof packagedExecutable>[0]} context
 */
export default async function afterPack(context) {
  const executable = packagedExecutable(context)
  // Flipping changes the binary, so a macOS ad-hoc signature must be made again.
  await flipPackagedFuses(executable, { resetAdHocDarwinSignature: context.electronPlatformName === 'darwin' })
  console.log(`flip-fuses: set ${Object.keys(FUSES).length} fuses in ${executable}`)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const executable = process.argv[2]
  if (!executable) {
    console.error('usage: node scripts/flip-fuses.mjs <packaged executable or .app>')
    process.exit(2)
  }
  await flipPackagedFuses(path.resolve(executable), { resetAdHocDarwinSignature: process.platform === 'darwin' })
  console.log(`flip-fuses: set ${Object.keys(FUSES).length} fuses in ${executable}`)
}
