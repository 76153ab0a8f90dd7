#!/usr/bin/env node
/**
 * Builds the generated models of the shipped repository (inference/models/mlp-demo, mlp-large;
 * git-ignored) — the same code as `tollgate models prepare` and `tollgate serve` run
 * (inference/src/repository/builtin.ts), from the build: run after `npm run build` (npm test,
 * npm run up and npm run bench do). Idempotent.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const compiled = path.join(root, 'dist/inference/src/repository/builtin.js');
if (!existsSync(compiled)) {
  console.error(`prepare-models: ${compiled} is missing; run \`npm run build\` first`);
  process.exit(1);
}
const { prepareBuiltinModels } = await import(pathToFileURL(compiled).href);
for (const { name, built } of prepareBuiltinModels()) console.log(`prepare-models: ${name} ${built ? 'built' : 'up to date'}`);
