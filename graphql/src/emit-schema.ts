/**
 * Writes graphql/schema.graphql from the code-first schema.
 *   node dist/graphql/src/emit-schema.js            (after `npx tsc -p tsconfig.json`)
 *   node dist/graphql/src/emit-schema.js --check    (exit 1 when the committed file is stale)
 *   node dist/graphql/src/emit-schema.js --out FILE (write elsewhere)
 */
import 'reflect-metadata';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printApiSchema } from './schema/build.js';

/** graphql/schema.graphql of the package this file belongs to (from source or from dist/). */
export function schemaFilePath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot locate the package root');
    dir = up;
  }
  return path.join(dir, 'graphql', 'schema.graphql');
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]);
if (isMain) {
  const outAt = process.argv.indexOf('--out');
  const file = outAt > 0 && process.argv[outAt + 1] ? path.resolve(process.argv[outAt + 1]!) : schemaFilePath();
  const sdl = printApiSchema();
  if (process.argv.includes('--check')) {
    const current = readFileSync(file, 'utf8');
    if (current !== sdl) {
      console.error(`${file} is stale: regenerate with node dist/graphql/src/emit-schema.js`);
      process.exit(1);
    }
    console.log(`${file} is up to date`);
  } else {
    writeFileSync(file, sdl);
    console.log(`wrote ${file}`);
  }
}
