/**
 * dropTestDatabases runs against the shared servers at the end of every test run, so it must drop
 * exactly the run's databases, keys and state folder plus test runs older than 6 h — and never
 * anything else.
 */
// engine-matrix: server only — drops the run's databases on the ClickHouse server; the embedded engines live in the run's state folder, removed with it
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { dropTestDatabases, testRunStartedAt } from '../helpers/teardown.js';

const HOUR = 3600_000;
const runId = (ageMs: number) => `${(Date.now() - ageMs).toString(36)}_${randomBytes(3).toString('hex')}`;

describe('dropTestDatabases', { timeout: 60_000 }, () => {
  const run = runId(0);
  const staleRun = runId(7 * HOUR);
  const liveRun = runId(1 * HOUR); // another engineer's run in progress
  const names = { run: `tollgate_test_${run}`, stale: `tollgate_test_${staleRun}`, live: `tollgate_test_${liveRun}` };
  const adminUrl = new URL(inject('DATABASE_URL'));
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  const ch = createClient({ url: inject('CLICKHOUSE_URL') });
  const redis = new Redis(inject('REDIS_URL'), { lazyConnect: true });
  let tmp: string;
  let config: Config;
  let holder: pg.Client;

  const pgDatabases = async () =>
    (await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [Object.values(names)])).rows.map((r) => r.datname).sort();
  const chDatabases = async () => {
    const rs = await ch.query({ query: `SELECT name FROM system.databases WHERE name IN ('${Object.values(names).join("','")}')`, format: 'JSONEachRow' });
    return (await rs.json<{ name: string }>()).map((r) => r.name).sort();
  };

  beforeAll(async () => {
    await admin.connect();
    await redis.connect();
    for (const name of Object.values(names)) {
      await admin.query(`CREATE DATABASE "${name}"`);
      await ch.command({ query: `CREATE DATABASE \`${name}\`` });
      await redis.set(`tollgate_test:${name.slice('tollgate_test_'.length)}:k`, '1');
    }
    await ch.command({ query: `CREATE TABLE \`${names.run}\`.t (x UInt8) ENGINE = MergeTree ORDER BY x` });
    // An open session on the run's database: teardown must terminate it, not fail on it.
    const runUrl = new URL(adminUrl);
    runUrl.pathname = `/${names.run}`;
    holder = new pg.Client({ connectionString: runUrl.toString() });
    holder.on('error', () => {});
    await holder.connect();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'tollgate-teardown-'));
    await mkdir(path.join(tmp, 'test', run), { recursive: true });
    await writeFile(path.join(tmp, 'test', run, 'wal.log'), 'x');
    config = {
      ...loadConfig(),
      DATABASE_URL: runUrl.toString(),
      CLICKHOUSE_URL: inject('CLICKHOUSE_URL'),
      CLICKHOUSE_DATABASE: names.run,
      REDIS_URL: inject('REDIS_URL'),
      REDIS_PREFIX: `tollgate_test:${run}`,
      TOLLGATE_STATE_DIR: path.join(tmp, 'test', run),
    };
  });

  afterAll(async () => {
    await holder.end().catch(() => {});
    for (const name of Object.values(names)) {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await ch.command({ query: `DROP DATABASE IF EXISTS \`${name}\`` });
    }
    await redis.unlink(...Object.values(names).map((n) => `tollgate_test:${n.slice('tollgate_test_'.length)}:k`));
    await admin.end();
    await ch.close();
    redis.disconnect();
    await rm(tmp, { recursive: true, force: true });
  });

  it('reads the run start time from a name and rejects other names', () => {
    expect(testRunStartedAt('tollgate_test_lx2a9k1c_0a1b2c')).toBe(parseInt('lx2a9k1c', 36));
    expect(testRunStartedAt('tollgate')).toBeUndefined();
    expect(testRunStartedAt('tollgate_test_')).toBeUndefined();
    expect(testRunStartedAt('tollgate_test_abc_XYZ')).toBeUndefined();
  });

  it('refuses to touch anything when a name is not a test-run name', async () => {
    await expect(dropTestDatabases({ ...config, CLICKHOUSE_DATABASE: 'tollgate' })).rejects.toThrow(/refusing to drop ClickHouse database "tollgate"/);
    const prod = new URL(config.DATABASE_URL);
    prod.pathname = '/tollgate';
    await expect(dropTestDatabases({ ...config, DATABASE_URL: prod.toString() })).rejects.toThrow(/refusing to drop Postgres database/);
    await expect(dropTestDatabases({ ...config, REDIS_PREFIX: 'tollgate' })).rejects.toThrow(/refusing to delete Redis keys/);
    expect(await pgDatabases()).toEqual(Object.values(names).sort());
    expect(await chDatabases()).toEqual(Object.values(names).sort());
  });

  it("drops the run's databases, keys and state folder, and runs older than 6 h, but not live runs", async () => {
    await dropTestDatabases(config);
    expect(await pgDatabases()).toEqual([names.live]);
    expect(await chDatabases()).toEqual([names.live]);
    expect(await redis.exists(`tollgate_test:${run}:k`, `tollgate_test:${staleRun}:k`)).toBe(0);
    expect(await redis.exists(`tollgate_test:${liveRun}:k`)).toBe(1);
    expect(existsSync(path.join(tmp, 'test', run))).toBe(false);
    await expect(holder.query('SELECT 1')).rejects.toThrow();
  });
});
