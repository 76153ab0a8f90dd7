// The committed graphql/schema.graphql must equal the SDL printed from the code-first schema.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { printApiSchema } from '../../graphql/src/schema/build.js';

describe('graphql/schema.graphql', () => {
  it('is up to date (regenerate: npx tsc -p tsconfig.json && node dist/graphql/src/emit-schema.js)', () => {
    const committed = readFileSync(path.resolve(import.meta.dirname, '../../graphql/schema.graphql'), 'utf8');
    expect(committed).toBe(printApiSchema());
  });
});
