// Setup file of both vitest projects: runs in each test file's own process, after that file's
// hooks (vitest runs after-hooks in reverse order, and this one is registered first), so servers
// and engines the file started are closed before their folders go.
// TRANSFER_STUDIO_KEEP_TEMP=1 keeps the folders for looking at a failure.
import { afterAll } from 'vitest'
import { removeTempDirs } from './helpers'

afterAll(() => {
  if (process.env.TRANSFER_STUDIO_KEEP_TEMP === '1') return
  const failures = removeTempDirs()
  if (failures.length > 0) console.warn(`Temporary folders left behind:\n${failures.join('\n')}`)
})
