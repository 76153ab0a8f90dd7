/**
 * The dependency rule itself (.dependency-cruiser.cjs, run by `npm run lint`): on a small tree
 * laid out like the repository, each forbidden arrow is reported under its rule and every
 * allowed arrow passes. `npm run lint` checks the real code; this checks that the rule can fail.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cruise } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const root = path.resolve(import.meta.dirname, '../..');

/** file → its source; every import names the rule it breaks, or none. */
const tree: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'fixture', type: 'module', dependencies: { zod: '*' }, devDependencies: { vitest: '*' } }),
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['app', 'src', 'inference', 'graphql', 'otlp', 'test'] }),
  'src/a/index.ts': "export { a } from './internal.js';\nexport { z } from 'zod';\n",
  'src/a/internal.ts': 'export const a = 1;\n',
  // a module reaching into another's internals
  'src/b/index.ts': "import { a } from '../a/internal.js';\nimport { a as ok } from '../a/index.js';\nexport const b = a + ok;\n",
  // the domain importing app/ and an edge
  'src/c/index.ts': "import '../../app/roles.js';\nimport '../../graphql/src/index.js';\nexport const c = 1;\n",
  // an import cycle inside a module
  'src/d/index.ts': "import { two } from './two.js';\nexport const one = 1;\nexport const d = two;\n",
  'src/d/two.ts': "import { one } from './index.js';\nexport const two = one + 1;\n",
  // production code importing a devDependency
  'src/e/index.ts': "import { expect } from 'vitest';\nexport const e = expect;\n",
  // an edge importing app/ and another edge; the edge's own internals are fine
  'inference/src/index.ts': "import '../../app/infra.js';\nimport '../../otlp/src/index.js';\nimport './server.js';\nimport '../../src/a/index.js';\n",
  'inference/src/server.ts': 'export const server = 1;\n',
  'otlp/src/index.ts': 'export const otlp = 1;\n',
  'graphql/src/index.ts': 'export const graphql = 1;\n',
  // app/ may import anything through the front doors, but not an edge's or a module's internals
  'app/roles.ts': "import '../inference/src/index.js';\nimport '../inference/src/server.js';\nimport '../src/a/internal.js';\nimport '../src/b/index.js';\n",
  'app/infra.ts': 'export const infra = 1;\n',
  // a module's own tests may reach its internals; other tests go through index.ts
  'test/a/a.test.ts': "import '../../src/a/internal.js';\n",
  'test/b/b.test.ts': "import '../../src/a/internal.js';\nimport '../../src/a/index.js';\n",
  'test/inference/server.test.ts': "import '../../inference/src/server.js';\n",
  'test/app/app.test.ts': "import '../../inference/src/server.js';\nimport '../../app/roles.js';\n",
};

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tollgate-depcruise-'));
  for (const [file, text] of Object.entries(tree)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the dependency rule (.dependency-cruiser.cjs)', () => {
  it('reports each forbidden import under its rule, and nothing else', async () => {
    const options = await extractDepcruiseOptions(path.join(root, '.dependency-cruiser.cjs'));
    const result = await cruise(['app', 'src', 'inference', 'graphql', 'otlp', 'test'], { ...options, baseDir: dir, validate: true }, undefined, {
      tsConfig: extractTSConfig(path.join(dir, 'tsconfig.json')),
    });
    if (typeof result.output === 'string') throw new Error('expected a cruise result object');
    const found = result.output.summary.violations
      .map((v) => {
        const to = v.to.replace(/^.*node_modules\//, 'node_modules/');
        // A cycle is reported once, from whichever of its files the cruise met first.
        return v.rule.name === 'no-circular' ? `no-circular: ${[v.from, to].sort().join(' <-> ')}` : `${v.rule.name}: ${v.from} -> ${to}`;
      })
      .sort();
    expect(found).toEqual(
      [
        'module-entered-not-through-index: src/b/index.ts -> src/a/internal.ts',
        'domain-imports-edge-or-app: src/c/index.ts -> app/roles.ts',
        'domain-imports-edge-or-app: src/c/index.ts -> graphql/src/index.ts',
        'no-circular: src/d/index.ts <-> src/d/two.ts',
        'no-dev-dependencies-in-production: src/e/index.ts -> node_modules/vitest/dist/index.d.ts',
        'edge-imports-app: inference/src/index.ts -> app/infra.ts',
        'edge-imports-other-edge: inference/src/index.ts -> otlp/src/index.ts',
        'edge-entered-not-through-index: app/roles.ts -> inference/src/server.ts',
        'module-entered-not-through-index-from-app-or-edge: app/roles.ts -> src/a/internal.ts',
        'module-entered-not-through-index-from-tests: test/b/b.test.ts -> src/a/internal.ts',
        'edge-entered-not-through-index: test/app/app.test.ts -> inference/src/server.ts',
      ].sort(),
    );
  });
});
