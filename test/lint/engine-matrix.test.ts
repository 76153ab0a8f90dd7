/**
 * The ClickHouse engine matrix (test/setup/engine-matrix.ts) is derived from the test tree, so a
 * new test that uses ClickHouse runs on the 18.16 server and the embedded current engine without
 * anyone listing it: checked on a fixture tree and on the real one, together with the request
 * matcher of the runtime guard (test/setup/clickhouse-guard.ts) and vitest.config.ts's projects.
 */
// engine-matrix: server only — reads the test tree and vitest's config; no ClickHouse engine involved
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineMatrix, isClickHouseRequest } from '../setup/engine-matrix.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('engine matrix derivation', () => {
  let tree: string;
  beforeAll(async () => {
    tree = await mkdtemp(path.join(os.tmpdir(), 'tollgate-matrix-'));
    const put = async (rel: string, text: string) => {
      await mkdir(path.dirname(path.join(tree, rel)), { recursive: true });
      await writeFile(path.join(tree, rel), text);
    };
    await put('test/a/direct.test.ts', "import { createClickHouse } from '../../src/clickhouse/index.js';\n");
    await put('test/a/helper.ts', "import { createClickHouse } from '../../src/clickhouse/index.js';\nexport const x = 1;\n");
    await put('test/a/deeper.ts', "export { x } from './helper.js';\n");
    await put('test/a/via-helper.test.ts', "import { x } from './deeper.js';\n");
    await put('test/a/comment-helper.ts', '// mentions ClickHouse in a comment only\nexport const y = 1;\n');
    await put('test/a/via-comment.test.ts', "import { y } from './comment-helper.js';\n");
    await put('test/a/plain.test.ts', "import { it } from 'vitest';\n");
    await put('test/b/opted.test.ts', '/** uses ClickHouse */\n// engine-matrix: server only — needs a server port for this reason\n');
    await put('test/b/env.test.ts', 'process.env.CLICKHOUSE_URL;\n');
  });
  afterAll(async () => {
    await rm(tree, { recursive: true, force: true });
  });

  it('takes files that name ClickHouse or import a helper that uses it; an opt-out needs its reason', () => {
    const m = engineMatrix(tree);
    expect(m.both).toEqual(['test/a/direct.test.ts', 'test/a/via-helper.test.ts', 'test/b/env.test.ts']);
    expect(m.serverOnly).toEqual([{ file: 'test/b/opted.test.ts', reason: 'needs a server port for this reason' }]);
  });

  it('on the real tree: the ClickHouse suites are in, every opt-out says why, and vitest runs exactly the matrix on chdb', async () => {
    const m = engineMatrix(root);
    for (const f of ['test/clickhouse/sql.test.ts', 'test/clickhouse/rollups.test.ts', 'test/clickhouse/migrate.test.ts', 'test/usage/flusher.test.ts', 'test/usage/crash.test.ts', 'test/usage/retention.test.ts', 'test/grafana/grafana.test.ts', 'test/graphql/usage-cost.test.ts', 'test/otlp/otlp.test.ts']) {
      expect(m.both).toContain(f);
    }
    for (const s of m.serverOnly) expect(s.reason.length, `${s.file} must say why it runs on the server only`).toBeGreaterThan(30);
    const config = (await import('../../vitest.config.js')).default as { test: { projects: Array<{ test: { name: string; include: string[] } }> } };
    const projects = Object.fromEntries(config.test.projects.map((p) => [p.test.name, p.test.include]));
    expect(projects.server).toEqual(['test/**/*.test.ts']);
    if (process.env.TOLLGATE_TEST_ENGINES !== 'server') expect(projects.chdb).toEqual(m.both);
  });

  it('the runtime guard recognises requests to the ClickHouse server, whatever their form', () => {
    const url = 'http://127.0.0.1:8123';
    expect(isClickHouseRequest(url, 'http://127.0.0.1:8123/?query=SELECT%201')).toBe(true);
    expect(isClickHouseRequest(url, new URL('http://127.0.0.1:8123/ping'))).toBe(true);
    expect(isClickHouseRequest(url, new URL('http://127.0.0.1:8123/'), { method: 'POST' })).toBe(true);
    expect(isClickHouseRequest(url, { hostname: '127.0.0.1', port: 8123, path: '/' })).toBe(true);
    expect(isClickHouseRequest(url, new Request('http://127.0.0.1:8123/ping'))).toBe(true);
    expect(isClickHouseRequest(url, 'http://127.0.0.1:4000/graphql')).toBe(false);
    expect(isClickHouseRequest(url, { hostname: '127.0.0.1', port: 5432 })).toBe(false);
    expect(isClickHouseRequest('http://localhost', 'http://localhost/x')).toBe(true);
    expect(isClickHouseRequest('chdb:.state/x', 'http://127.0.0.1:8123/')).toBe(false);
  });
});
