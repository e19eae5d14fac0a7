#!/usr/bin/env node
// The installed command runs the built command line (npm run build writes out/main/cli.js).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../out/main/cli.js', import.meta.url))
if (!existsSync(cli)) {
  process.stderr.write('error: Transfer Studio is not built yet: run `npm run build` first (or use `npm run studio -- <command>`).\n')
  process.exit(1)
}
await import(cli)
