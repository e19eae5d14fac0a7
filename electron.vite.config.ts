import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'

// One config, three bundles, as in electron-vite's vue-ts template. The main bundle also
// carries the engine process entry and the command line, so all Node code is built once.
export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        input: {
          index: resolve('src/main/index.ts'),
          engine: resolve('src/engine/process.ts'),
          // A worker thread entry: the prefix pool starts it by file name.
          'prefix-worker': resolve('src/engine/prefix/worker.ts'),
          cli: resolve('src/cli/cli.ts')
        }
      }
    }
  },
  preload: {
    build: {
      // A sandboxed preload cannot be an ES module.
      rollupOptions: { output: { format: 'cjs', entryFileNames: '[name].cjs' } }
    }
  },
  renderer: {
    resolve: { alias: { '@renderer': resolve('src/renderer/src') } },
    plugins: [vue()]
  }
})
