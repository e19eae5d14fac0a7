// Where the engine keeps what it downloads and makes. The same folder Electron calls userData
// for this app, so the command line and the window share downloaded weights and runs.
import os from 'node:os'
import path from 'node:path'
import { environment } from './environment'

export const APP_FOLDER = 'transfer-studio'

export function studioHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = environment.home(env)
  if (home) return path.resolve(home)
  if (process.platform === 'win32') return path.join(env.APPDATA ?? path.join(os.homedir(), 'AppData', 'Roaming'), APP_FOLDER)
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Application Support', APP_FOLDER)
  return path.join(env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), APP_FOLDER)
}
