/**
 * Embedded ClickHouse (`CLICKHOUSE_URL=chdb:<path>`, src/clickhouse/embedded.ts) on the real
 * chDB engine: path forms, one process per data directory (a live holder is refused with its
 * pid, a SIGKILLed one's lock is taken over), the client's database applied to unqualified
 * names, per-query settings (a read's readonly=2) not leaking into later statements, and the
 * event loop staying free while the engine works.
 */
// engine-matrix: server only — opens embedded engines of its own (a process holds one data directory), so it cannot share the chdb project's
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { ClickHouseCodes, ClickHouseError, createClickHouse, embeddedPath, EmbeddedClickHouseError, migrateClickHouse, sql, type ClickHouse } from '../../src/clickhouse/index.js';

const root = path.resolve(import.meta.dirname, '../..');
let dir: string;
let config: Config;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tollgate-chdb-'));
  config = { ...loadConfig(), CLICKHOUSE_URL: `chdb:${dir}`, CLICKHOUSE_DATABASE: 'embedded_a' };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A separate Node process holding the embedded engine at `dir` until killed. */
function holder(at: string): Promise<ChildProcess> {
  const code = `
    const { createClickHouse, sql } = await import(${JSON.stringify(path.join(root, 'dist/src/clickhouse/index.js'))});
    const ch = createClickHouse({ CLICKHOUSE_URL: process.env.URL, CLICKHOUSE_DATABASE: 'default', CLICKHOUSE_MAX_EXECUTION_TIME: 30 });
    await ch.query(sql\`SELECT 1\`);
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, URL: `chdb:${at}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}: ${err}`)));
  });
}

describe('embedded ClickHouse (chdb:<path>)', () => {
  it('takes absolute, relative and chdb:/// paths; refuses an empty one', () => {
    expect(embeddedPath('chdb:/var/lib/x', '/cwd')).toBe('/var/lib/x');
    expect(embeddedPath('chdb:.state/chdb-try', '/cwd')).toBe('/cwd/.state/chdb-try');
    expect(embeddedPath('chdb:///abs/y', '/cwd')).toBe('/abs/y');
    expect(() => embeddedPath('chdb:', '/cwd')).toThrow(EmbeddedClickHouseError);
    expect(() => loadConfig({ CLICKHOUSE_URL: 'chdb:.state/chdb-try' })).not.toThrow();
  });

  it('refuses a data directory another process holds (naming it), and takes over the lock of one that was SIGKILLed', async () => {
    const child = await holder(dir);
    try {
      const lock = await readFile(path.join(dir, 'tollgate.lock'), 'utf8');
      expect(lock.split('\n')[0]).toBe(String(child.pid));
      expect(() => createClickHouse(config)).toThrow(new RegExp(`in use by process ${child.pid}`));
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    // The dead holder's lock does not keep the directory from being opened.
    const ch = createClickHouse({ ...config, CLICKHOUSE_DATABASE: 'default' });
    expect(await ch.ping()).toBe(true);
    expect((await readFile(path.join(dir, 'tollgate.lock'), 'utf8')).split('\n')[0]).toBe(String(process.pid));
    await ch.close();
  });

  describe('on one data directory', () => {
    let a: ClickHouse;
    let b: ClickHouse;
    beforeAll(async () => {
      await migrateClickHouse({ config });
      await migrateClickHouse({ config: { ...config, CLICKHOUSE_DATABASE: 'embedded_b' } });
      a = createClickHouse(config);
      b = createClickHouse({ ...config, CLICKHOUSE_DATABASE: 'embedded_b' });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it('applies every migration and records it', async () => {
      const rows = await a.query<{ version: number }>(sql`SELECT version FROM schema_migrations ORDER BY version`);
      expect(rows.length).toBeGreaterThanOrEqual(6);
      const again = await migrateClickHouse({ config });
      expect(again.applied).toEqual([]);
    });

    it('binds unqualified names to each client’s own database', async () => {
      await a.exec(sql`CREATE TABLE IF NOT EXISTS t (n UInt32) ENGINE = MergeTree ORDER BY n`);
      await b.exec(sql`CREATE TABLE IF NOT EXISTS t (n UInt32) ENGINE = MergeTree ORDER BY n`);
      await a.insert('t', [{ n: 1 }, { n: 2 }]);
      await b.insert('t', [{ n: 40 }]);
      expect(await a.query(sql`SELECT sum(n) AS s FROM t`)).toEqual([{ s: '3' }]);
      expect(await b.query(sql`SELECT sum(n) AS s FROM t`)).toEqual([{ s: '40' }]);
      expect(a.database).toBe('embedded_a');
    });

    it('keeps per-query settings to their query: a read-only read does not make the next write read-only', async () => {
      const refused = await a.query(sql`CREATE TABLE sneaky (x UInt8) ENGINE = Memory`).catch((e: unknown) => e);
      expect((refused as ClickHouseError).code).toBe(ClickHouseCodes.READONLY);
      await a.query(sql`SELECT count() FROM t`, { settings: { max_rows_to_read: '1' } }).catch(() => undefined);
      await a.exec(sql`INSERT INTO t VALUES (3)`);
      expect(await a.query(sql`SELECT count() AS c FROM t`)).toEqual([{ c: '3' }]);
    });

    it('reports server errors as ClickHouseError with the numeric code', async () => {
      const err = await a.query(sql`SELECT * FROM no_such_table`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClickHouseError);
      expect((err as ClickHouseError).code).toBe(ClickHouseCodes.UNKNOWN_TABLE);
    });

    it('refuses a second data directory in the same process', () => {
      expect(() => createClickHouse({ ...config, CLICKHOUSE_URL: `chdb:${dir}-other` })).toThrow(/one data directory per process/);
    });

    it('runs queries off the event loop (bounded concurrency, every result correct)', async () => {
      const h = monitorEventLoopDelay({ resolution: 5 });
      h.enable();
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => a.query<{ c: string }>(sql`SELECT count() AS c FROM numbers(${16_000_000 + i}) WHERE sipHash64(number) % 7 = 0`)),
      );
      const took = Date.now() - started;
      h.disable();
      expect(results.map((r) => Number(r[0]!.c) > 2_240_000)).toEqual([true, true, true, true, true, true]);
      const maxMs = h.max / 1e6;
      console.log(`[embedded] 6 queries in ${took} ms; event-loop delay max ${maxMs.toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms`);
      expect(took).toBeGreaterThan(300); // the engine really worked for a while…
      expect(maxMs).toBeLessThan(Math.min(500, took / 2)); // …while timers kept firing (one blocking call would stall them for the whole query)
    });
  });
});
