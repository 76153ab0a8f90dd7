#!/usr/bin/env node
// `npm run bench -- <name>|all`: builds, makes sure the services answer, then runs
// bench/<name>.mjs (each prints ratios against a baseline measured in the same run).
// Without a name it lists the benchmarks.
import { readdirSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Shared code and the child processes benchmarks spawn, not benchmarks themselves.
const HELPER = /-(lib|child|sender|load)\.mjs$/;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const benches = readdirSync(path.join(root, 'bench'))
  .filter((f) => f.endsWith('.mjs') && !HELPER.test(f))
  .map((f) => f.replace(/\.mjs$/, ''))
  .sort();
const [name, ...rest] = process.argv.slice(2);
if (!name || !(name === 'all' || benches.includes(name))) {
  process.stderr.write(`usage: npm run bench -- <name>|all [args]\nbenchmarks: ${benches.join(', ')}\n`);
  process.exit(name ? 2 : 0);
}

execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
const settings = execFileSync(process.execPath, [path.join(root, 'scripts/services.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const env = { ...process.env };
for (const line of settings.split('\n')) {
  const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
  if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
}
execFileSync(process.execPath, [path.join(root, 'scripts/prepare-models.mjs')], { stdio: 'inherit' });

let failed = 0;
for (const bench of name === 'all' ? benches : [name]) {
  process.stdout.write(`\n=== bench/${bench}.mjs ===\n`);
  const r = spawnSync(process.execPath, [path.join(root, 'bench', `${bench}.mjs`), ...rest], { stdio: 'inherit', env, cwd: root });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
