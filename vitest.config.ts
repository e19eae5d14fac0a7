import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  // Component tests mount .vue files (in happy-dom, chosen per file).
  plugins: [vue()],
  test: {
    include: ['test/**/*.test.ts'],
    // Real models on a 2-core machine: loading and running a backbone takes seconds, not ms.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // tfjs keeps one global engine per process; two heavy files at once would only fight for the 2 cores.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts']
  }
})
