/**
 * Runs once per `vitest run` (vitest calls it per project; the later calls reuse the first's
 * stores): makes sure ClickHouse, Postgres and Redis are reachable
 * (starting them if needed, via scripts/services.mjs), then creates a fresh, uniquely named
 * Postgres database, ClickHouse database and Redis key prefix for this run and migrates them.
 * Test files read the resulting settings from `process.env` (see test/helpers/env.ts).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

const root = path.resolve(import.meta.dirname, '../..');

function ensureServices(): Record<string, string> {
  const out = execFileSync(process.execPath, [path.join(root, 'scripts/services.mjs')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  const settings: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) settings[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return settings;
}

const PROVIDED = ['DATABASE_URL', 'CLICKHOUSE_URL', 'CLICKHOUSE_DATABASE', 'REDIS_URL', 'REDIS_PREFIX', 'TOLLGATE_STATE_DIR'] as const;

/** Set by the first call: vitest calls a global setup once per project (server, chdb), the run's stores are made once. */
let runReady: Promise<void> | undefined;

export default async function setup(project: TestProject) {
  if (runReady) {
    await runReady;
    for (const key of PROVIDED) project.provide(key, process.env[key] ?? '');
    return;
  }
  let done!: () => void;
  runReady = new Promise((resolve) => (done = resolve));
  try {
    return await prepareRun(project);
  } finally {
    done();
  }
}

async function prepareRun(project: TestProject) {
  Object.assign(process.env, ensureServices());
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

  const pgUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tollgate');
  pgUrl.pathname = `/tollgate_test_${runId}`;
  process.env.DATABASE_URL = pgUrl.toString();
  process.env.CLICKHOUSE_DATABASE = `tollgate_test_${runId}`;
  process.env.REDIS_PREFIX = `tollgate_test:${runId}`;
  process.env.NODE_ENV = 'test';
  process.env.LOG_LEVEL ??= 'silent';
  process.env.OTEL_SDK_DISABLED ??= 'true';
  process.env.TOLLGATE_STATE_DIR = path.join(root, '.state/test', runId);

  // The generated demo models (git-ignored): a fresh checkout or worktree gets them here too.
  const { prepareBuiltinModels } = await import('../../inference/src/index.js');
  prepareBuiltinModels();

  const { loadConfig } = await import('../../src/config/index.js');
  const { migratePostgres } = await import('../../src/db/index.js');
  const { migrateClickHouse } = await import('../../src/clickhouse/index.js');
  const config = loadConfig();
  try {
    await migratePostgres({ config });
    await migrateClickHouse({ config });
  } catch (err) {
    // Vitest skips teardown when setup throws: drop what this run created before failing.
    const { dropTestDatabases } = await import('../helpers/teardown.js');
    await dropTestDatabases(config).catch(() => undefined);
    throw err;
  }

  for (const key of PROVIDED) {
    project.provide(key, process.env[key] ?? '');
  }

  return async () => {
    if (process.env.KEEP_TEST_DATABASES) return;
    const { dropTestDatabases } = await import('../helpers/teardown.js');
    await dropTestDatabases(config);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    DATABASE_URL: string;
    CLICKHOUSE_URL: string;
    CLICKHOUSE_DATABASE: string;
    REDIS_URL: string;
    REDIS_PREFIX: string;
    TOLLGATE_STATE_DIR: string;
  }
}
