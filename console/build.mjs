#!/usr/bin/env node
/**
 * Bundles the tenant console (console/src) into dist/console with esbuild, at build time:
 *   dist/console/index.html, dist/console/assets/console.js, dist/console/assets/console.css
 * uPlot and its stylesheet are bundled in; the served page loads nothing from elsewhere (the API
 * role's Content-Security-Policy would refuse it anyway). Part of `npm run build`, after the
 * type check of console/tsconfig.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist/console');
const started = Date.now();
const check = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'console/tsconfig.json')], { stdio: 'inherit' });
if (check.status !== 0) process.exit(check.status ?? 1);
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'assets'), { recursive: true });
const result = await build({
  entryPoints: { console: path.join(root, 'console/src/main.ts') },
  outdir: path.join(out, 'assets'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});
fs.copyFileSync(path.join(root, 'console/src/index.html'), path.join(out, 'index.html'));
const sizes = Object.entries(result.metafile.outputs)
  .filter(([f]) => !f.endsWith('.map'))
  .map(([f, o]) => `${path.basename(f)} ${(o.bytes / 1024).toFixed(1)} KiB`);
process.stderr.write(`[console] bundled ${sizes.join(', ')} into ${path.relative(root, out)} (${Date.now() - started} ms)\n`);
