#!/usr/bin/env node
// The dependency rule of `npm run lint`: dependency-cruiser with .dependency-cruiser.cjs over
// the code folders. Its API rather than its `depcruise` CLI, which refuses Node 20 (the API
// itself runs on it). Prints each violation with the rule's name; exit 1 if there is any.
import path from 'node:path';
import { cruise, format } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const root = path.resolve(import.meta.dirname, '..');
process.chdir(root);
const folders = ['app', 'src', 'inference/src', 'graphql/src', 'otlp/src', 'test', 'bench', 'scripts', 'bin'];
const started = Date.now();
const options = await extractDepcruiseOptions('./.dependency-cruiser.cjs');
const result = await cruise(folders, { ...options, validate: true }, undefined, { tsConfig: extractTSConfig('tsconfig.json') });
const { output } = await format(result.output, { outputType: 'err-long' });
const { violations, totalCruised } = result.output.summary;
if (violations.length > 0) process.stderr.write(output);
process.stderr.write(`depcruise: ${totalCruised} modules, ${violations.length} violations (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
process.exit(violations.length > 0 ? 1 : 0);
