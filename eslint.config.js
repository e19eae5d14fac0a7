import js from '@eslint/js'
import { createNodeResolver, importX } from 'eslint-plugin-import-x'
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'
import globals from 'globals'

// The layers (docs/DESIGN.md): shared ← engine; shared ← hosts (main, server, preload) → engine;
// shared ← renderer. An import against these arrows fails the lint.
const NODE_BUILTINS = ['node:*', 'fs', 'fs/promises', 'path', 'os', 'child_process', 'crypto', 'worker_threads', 'net', 'http', 'url', 'stream']
const layer = (files, forbidden, message) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns: [{ group: forbidden, message }] }] }
})

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.cache/**', 'test-output/**', 'bench/results/**', 'test/lint-fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } }
  },
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.browser }
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'vue/multi-word-component-names': 'off'
    }
  },
  {
    files: ['src/**/*.ts', 'src/**/*.vue', 'test/lint-fixtures/**'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.vue', '.js', '.mjs', '.json'] })],
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] }
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] }
  },
  layer(
    ['src/renderer/**'],
    ['**/engine/**', '**/server/**', '**/host/**', '**/main/**', '**/preload/index*', 'electron', ...NODE_BUILTINS],
    'The renderer is a view: it talks to the host through its client and imports only src/shared and browser code.'
  ),
  layer(
    ['src/engine/**'],
    ['**/main/**', '**/server/**', '**/host/**', '**/cli/**', '**/renderer/**', '**/preload/**', 'electron'],
    'The engine knows nothing of its hosts or of Electron: it answers protocol commands.'
  ),
  layer(
    ['src/host/**'],
    ['**/main/**', '**/server/**', '**/renderer/**', '**/cli/**', 'electron'],
    'src/host holds what both hosts share; it knows neither of them, nor Electron.'
  ),
  layer(['src/server/**'], ['**/main/**', '**/renderer/**', '**/cli/**', 'electron'], 'The browser host shares code with Electron only through src/host.'),
  layer(['src/cli/**'], ['**/main/**', '**/renderer/**', 'electron'], 'The command line runs engine commands in its own process; it knows neither Electron nor the renderer.'),
  layer(['src/main/**'], ['**/server/**', '**/renderer/**', '**/cli/**'], "Electron's host shares code with the browser host only through src/host."),
  layer(
    ['src/shared/**'],
    ['../*', '!../shared/*', 'electron', ...NODE_BUILTINS],
    'src/shared holds the protocol and pure helpers: it imports nothing of ours outside it, and nothing of Node.'
  )
)
