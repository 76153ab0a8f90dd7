#!/usr/bin/env node
// Entry point for `npx tollgate`: runs the compiled CLI, (re)building it first when the
// TypeScript sources are newer than the build (a fresh clone, or a `git pull`).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist/app/cli/main.js');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const sourceDirs = ['app', 'src', 'inference/src', 'graphql/src', 'otlp/src'].map((d) => path.join(root, d)).filter((d) => existsSync(d));
const stale = !existsSync(main) || Math.max(...sourceDirs.map(newestSource)) > statSync(main).mtimeMs;
if (stale) {
  process.stderr.write('tollgate: building (tsc)…\n');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
await import(pathToFileURL(main).href);
