/**
 * The migration runner: applies the repository's migrations to a fresh database, is a no-op
 * the second time, refuses a changed applied file, applies only new files, and rewrites
 * placeholders for a cluster (pure text; only the single-node path runs against a server).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, ident, sql, tableNames } from '../../src/clickhouse/index.js';
import { defaultMigrationsDir, migrateClickHouse, packageRoot, readMigrations } from '../../src/clickhouse/migrate.js';
import { rewriteMigration, splitStatements } from '../../src/clickhouse/migration-text.js';
import { createTestDatabase, uniqueDatabaseName, type TestDatabase } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function tablesOf(db: TestDatabase): Promise<string[]> {
  const rows = await db.ch.query<{ name: string }>(sql`SELECT name FROM system.tables WHERE database = ${db.config.CLICKHOUSE_DATABASE} ORDER BY name`);
  return rows.map((r) => r.name);
}

describe('migrateClickHouse on the repository migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    cleanups.push(() => db.drop());
  });

  it('creates every table and view, then is a no-op', async () => {
    const files = await readMigrations(defaultMigrationsDir());
    const logs: string[] = [];
    const first = await migrateClickHouse({ config: db.config, log: (m) => logs.push(m) });
    expect(first.applied).toEqual(files.map((f) => f.file));
    expect(logs.length).toBe(files.length);
    const tables = await tablesOf(db);
    for (const t of tableNames) expect(tables).toContain(t);
    for (const mv of ['usage_minute_mv_v1', 'usage_hourly_mv_v1', 'usage_daily_mv_v1', 'usage_latency_hourly_mv_v1', 'usage_tags_hourly_mv_v1', 'otel_traces_trace_id_ts_mv_v1']) {
      expect(tables).toContain(mv);
    }
    const recorded = await db.ch.query<{ version: number; name: string; checksum: string }>(sql`SELECT version, name, checksum FROM schema_migrations ORDER BY version`);
    expect(recorded.map((r) => r.checksum)).toEqual(files.map((f) => f.checksum));

    const second = await migrateClickHouse({ config: db.config });
    expect(second.applied).toEqual([]);
    expect(await tablesOf(db)).toEqual(tables);
  });

  it('creates the database when it is missing', async () => {
    const name = uniqueDatabaseName();
    const config = { ...db.config, CLICKHOUSE_DATABASE: name };
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ch-migrations-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    cleanups.push(async () => {
      const admin = createClickHouse(config, { database: 'default' });
      await admin.exec(sql`DROP DATABASE IF EXISTS ${ident(name, [name])}`);
      await admin.close();
    });
    await writeFile(path.join(dir, '001_one.sql'), 'CREATE TABLE IF NOT EXISTS one {{ON_CLUSTER}} (a UInt8) ENGINE = {{ENGINE:MergeTree}} ORDER BY a;\n');
    const result = await migrateClickHouse({ config, dir });
    expect(result.applied).toEqual(['001_one.sql']);
    const rows = await db.ch.query<{ n: string }>(sql`SELECT count() AS n FROM system.tables WHERE database = ${name} AND name = ${'one'}`);
    expect(rows[0]!.n).toBe('1');
  });
});

describe('migrateClickHouse with a temporary migrations folder', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), 'ch-migrations-'));
    cleanups.push(() => db.drop(), () => rm(dir, { recursive: true, force: true }));
  });

  it('applies in order, refuses a changed applied file, applies only new files', async () => {
    await writeFile(
      path.join(dir, '001_first.sql'),
      `-- a comment; with a semicolon
CREATE TABLE IF NOT EXISTS t1 {{ON_CLUSTER}} (a String DEFAULT 'x;y', b UInt8) ENGINE = {{ENGINE:MergeTree}} ORDER BY a;
INSERT INTO t1 (a, b) VALUES ('semi;colon', 1);
`,
    );
    await writeFile(path.join(dir, '002_second.sql'), 'CREATE TABLE IF NOT EXISTS t2 {{ON_CLUSTER}} (v UInt32, k String) ENGINE = {{ENGINE:ReplacingMergeTree(v)}} ORDER BY k\n');
    expect((await migrateClickHouse({ config: db.config, dir })).applied).toEqual(['001_first.sql', '002_second.sql']);
    const rows = await db.ch.query<{ a: string }>(sql`SELECT a FROM t1`);
    expect(rows).toEqual([{ a: 'semi;colon' }]);

    await writeFile(path.join(dir, '002_second.sql'), 'CREATE TABLE IF NOT EXISTS t2 (v UInt64, k String) ENGINE = MergeTree ORDER BY k\n');
    await expect(migrateClickHouse({ config: db.config, dir })).rejects.toThrow(/002_second\.sql was changed after it was applied/);
    await writeFile(path.join(dir, '002_second.sql'), 'CREATE TABLE IF NOT EXISTS t2 {{ON_CLUSTER}} (v UInt32, k String) ENGINE = {{ENGINE:ReplacingMergeTree(v)}} ORDER BY k\n');

    await writeFile(path.join(dir, '003_third.sql'), 'CREATE TABLE IF NOT EXISTS t3 {{ON_CLUSTER}} (a UInt8) ENGINE = {{ENGINE:MergeTree}} ORDER BY a;');
    expect((await migrateClickHouse({ config: db.config, dir })).applied).toEqual(['003_third.sql']);
    expect((await migrateClickHouse({ config: db.config, dir })).applied).toEqual([]);
  });

  it('rejects badly named or duplicate-numbered files, and reports the failing statement', async () => {
    const fresh = await createTestDatabase();
    cleanups.push(() => fresh.drop());
    const bad = await mkdtemp(path.join(os.tmpdir(), 'ch-migrations-'));
    cleanups.push(() => rm(bad, { recursive: true, force: true }));
    await writeFile(path.join(bad, '001_a.sql'), 'SELECT 1');
    await writeFile(path.join(bad, '001_b.sql'), 'SELECT 1');
    await expect(migrateClickHouse({ config: fresh.config, dir: bad })).rejects.toThrow(/share version 001/);
    await rm(path.join(bad, '001_b.sql'));
    await writeFile(path.join(bad, '2_x.sql'), 'SELECT 1');
    await expect(migrateClickHouse({ config: fresh.config, dir: bad })).rejects.toThrow(/NNN_name\.sql/);
    await rm(path.join(bad, '2_x.sql'));
    await writeFile(path.join(bad, '002_broken.sql'), 'CREATE TABLE IF NOT EXISTS ok1 (a UInt8) ENGINE = Memory;\nCREATE TABLE nope (a NoSuchType) ENGINE = Memory;');
    await expect(migrateClickHouse({ config: fresh.config, dir: bad })).rejects.toThrow(/002_broken\.sql statement 2 failed/);
  });
});

describe('migration text handling (pure)', () => {
  const text = `CREATE TABLE IF NOT EXISTS x {{ON_CLUSTER}} (v UInt64) ENGINE = {{ENGINE:ReplacingMergeTree(v)}} ORDER BY v;
CREATE MATERIALIZED VIEW IF NOT EXISTS x_mv {{ ON_CLUSTER }} TO y AS SELECT 1;
CREATE TABLE z {{ON_CLUSTER}} (a UInt8) ENGINE = {{ENGINE:AggregatingMergeTree}} ORDER BY a`;

  it('rewrites placeholders for a single node', () => {
    const out = rewriteMigration(text);
    expect(out).toContain('CREATE TABLE IF NOT EXISTS x  (v UInt64) ENGINE = ReplacingMergeTree(v) ORDER BY v;');
    expect(out).toContain('x_mv  TO y');
    expect(out).toContain('ENGINE = AggregatingMergeTree ORDER BY a');
    expect(out).not.toContain('{{');
  });

  it('rewrites placeholders for a cluster: ON CLUSTER and Replicated engines', () => {
    const out = rewriteMigration(text, { cluster: 'prod' });
    expect(out).toContain("CREATE TABLE IF NOT EXISTS x ON CLUSTER prod (v UInt64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', v)");
    expect(out).toContain('x_mv ON CLUSTER prod TO y');
    expect(out).toContain("ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY a");
  });

  it('rejects unknown placeholders, engines and cluster names', () => {
    expect(() => rewriteMigration('{{DB}}')).toThrow(/unknown migration placeholder/);
    expect(() => rewriteMigration('{{ENGINE:Memory}}')).toThrow(/unsupported engine/);
    expect(() => rewriteMigration('{{ON_CLUSTER}}', { cluster: 'a; DROP' })).toThrow(/invalid cluster/);
  });

  it('splits statements on ; outside strings and comments', () => {
    const parts = splitStatements(`-- header; comment
SELECT 'a;b', "c;d", \`e;f\` ;
/* block; comment */ SELECT 'it\\'s;' ;

SELECT 3 -- trailing; comment
;
-- only a comment;
`);
    expect(parts).toEqual(["-- header; comment\nSELECT 'a;b', \"c;d\", `e;f`", "/* block; comment */ SELECT 'it\\'s;'", 'SELECT 3 -- trailing; comment']);
  });

  it('finds the package root from src (and the same walk works from dist/)', () => {
    const root = packageRoot();
    expect(defaultMigrationsDir()).toBe(path.join(root, 'clickhouse', 'migrations'));
    expect(packageRoot(path.join(root, 'dist', 'src', 'clickhouse'))).toBe(root);
  });
});
