import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'

/**
 * Tests that need no model, no engine process and no browser: `npm run test:unit` runs them in
 * seconds. Everything else (real training, servers, end-to-end in Chromium) is the slow project.
 * `npm test` runs both.
 */
const UNIT = [
  'test/shared/**/*.test.ts',
  'test/renderer/**/*.test.ts',
  'test/main/**/*.test.ts',
  'test/host/session-state.test.ts',
  'test/lint/**/*.test.ts',
  'test/engine/datasets/split.test.ts',
  'test/engine/images/sniff.test.ts',
  'test/engine/preprocess.test.ts',
  'test/engine/train/callbacks.test.ts',
  'test/engine/train/augment.test.ts',
  'test/server/request-guards.test.ts'
]

export default defineConfig({
  // Component tests mount .vue files (in happy-dom, chosen per file).
  plugins: [vue()],
  test: {
    // Real models on a 2-core machine: loading and running a backbone takes seconds, not ms.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // tfjs keeps one global engine per process; two heavy files at once would only fight for the 2 cores.
    maxWorkers: 2,
    // Removes the folders tempDir() made, per test file.
    setupFiles: ['test/cleanup.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: { name: 'slow', include: ['test/**/*.test.ts'], exclude: UNIT, globalSetup: ['test/global-setup.ts'] }
      }
    ]
  }
})
