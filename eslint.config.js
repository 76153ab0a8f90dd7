// ESLint (flat config) for `npm run lint`: @eslint/js + typescript-eslint recommended on every
// file; on production code (app/, src/, the edges) also the type-aware promise rules, which
// catch the bugs that matter most in this async code base (a floating promise loses its error).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's globals for plain .js/.mjs/.cjs files (TypeScript files are checked by tsc instead). */
const nodeGlobals = Object.fromEntries(
  [
    'process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'AbortController', 'AbortSignal', 'TextEncoder', 'TextDecoder',
    'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'queueMicrotask',
    'structuredClone', 'performance', 'fetch', 'Response', 'Request', 'Headers', 'global', 'globalThis',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', '.state/', 'coverage/', 'bench/results/', 'inference/models/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: nodeGlobals },
  },
  {
    files: ['app/**/*.ts', 'src/**/*.ts', 'inference/src/**/*.ts', 'graphql/src/**/*.ts', 'otlp/src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    rules: {
      // A `let` assigned once but read earlier in a closure (a timer cleared by a callback defined
      // before it is set) cannot become const, nor can one name of a destructuring whose other
      // names are reassigned; flag only the plain cases.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true, destructuring: 'all' }],
    },
  },
  {
    // Tests assert on untyped JSON (GraphQL responses, ClickHouse rows); `expect` checks the shape.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', __dirname: 'readonly' } },
  },
);
