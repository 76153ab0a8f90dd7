/**
 * Cleans up after a test run (called by test/setup/global-setup.ts): drops the run's Postgres
 * and ClickHouse databases, deletes its Redis keys and its state folder, and, best effort, does
 * the same for runs that crashed more than 6 hours ago. Only names made by the global setup
 * (`tollgate_test_<base36 ms>_<hex>`) are ever touched.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Config } from '../../src/config/index.js';

const TEST_NAME = /^tollgate_test_([0-9a-z]+)_([0-9a-f]+)$/;
const STALE_AFTER_MS = 6 * 60 * 60 * 1000;

/** The run's start time encoded in a test database name, or undefined for any other name. */
export function testRunStartedAt(name: string): number | undefined {
  const m = TEST_NAME.exec(name);
  if (!m) return undefined;
  const ms = parseInt(m[1]!, 36);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

function assertTestName(kind: string, name: string): void {
  if (testRunStartedAt(name) === undefined) throw new Error(`refusing to drop ${kind} ${JSON.stringify(name)}: not a tollgate_test_<run> name`);
}

const isStale = (name: string, now: number) => {
  const at = testRunStartedAt(name);
  return at !== undefined && now - at > STALE_AFTER_MS;
};

export async function dropTestDatabases(config: Config): Promise<void> {
  const url = new URL(config.DATABASE_URL);
  const pgName = decodeURIComponent(url.pathname.slice(1));
  assertTestName('Postgres database', pgName);
  assertTestName('ClickHouse database', config.CLICKHOUSE_DATABASE);
  const prefixRun = /^tollgate_test:([0-9a-z]+_[0-9a-f]+)$/.exec(config.REDIS_PREFIX);
  if (!prefixRun) throw new Error(`refusing to delete Redis keys under ${JSON.stringify(config.REDIS_PREFIX)}: not a tollgate_test:<run> prefix`);

  const results = await Promise.allSettled([dropPostgres(url, pgName), dropClickHouse(config), deleteRedisKeys(config), removeStateDir(config.TOLLGATE_STATE_DIR)]);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) throw new AggregateError(failed.map((f) => f.reason), `test teardown: ${failed.map((f) => String(f.reason?.message ?? f.reason)).join('; ')}`);
}

async function dropPostgres(url: URL, name: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'tollgate\\_test\\_%'`);
    const now = Date.now();
    const names = [name, ...rows.map((r) => r.datname).filter((n) => n !== name && isStale(n, now))];
    for (const db of names) {
      assertTestName('Postgres database', db);
      try {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
        await client.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
      } catch (err) {
        if (db === name) throw err; // someone else's stale database is best effort
      }
    }
  } finally {
    await client.end();
  }
}

async function dropClickHouse(config: Config): Promise<void> {
  const client = createClient({ url: config.CLICKHOUSE_URL, username: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD });
  try {
    const rs = await client.query({ query: `SELECT name FROM system.databases WHERE name LIKE 'tollgate\\\\_test\\\\_%'`, format: 'JSONEachRow' });
    const now = Date.now();
    const rows = await rs.json<{ name: string }>();
    const names = [config.CLICKHOUSE_DATABASE, ...rows.map((r) => r.name).filter((n) => n !== config.CLICKHOUSE_DATABASE && isStale(n, now))];
    for (const db of names) {
      assertTestName('ClickHouse database', db);
      try {
        await client.command({ query: `DROP DATABASE IF EXISTS \`${db}\`` });
      } catch (err) {
        if (db === config.CLICKHOUSE_DATABASE) throw err;
      }
    }
  } finally {
    await client.close();
  }
}

/** SCAN + UNLINK: the run's keys, and keys of test runs older than 6 h. */
async function deleteRedisKeys(config: Config): Promise<void> {
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  try {
    const now = Date.now();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'tollgate_test:*', 'COUNT', 1000);
      cursor = next;
      const doomed = keys.filter((key) => key.startsWith(`${config.REDIS_PREFIX}:`) || isStale(`tollgate_test_${key.split(':')[1] ?? ''}`, now));
      if (doomed.length) await redis.unlink(...doomed);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** The run's `.state/test/<run>` folder (usage WAL and the like); anything else is left alone. */
async function removeStateDir(dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  if (TEST_NAME.test(`tollgate_test_${path.basename(resolved)}`) && path.basename(path.dirname(resolved)) === 'test') {
    await rm(resolved, { recursive: true, force: true });
  }
}
