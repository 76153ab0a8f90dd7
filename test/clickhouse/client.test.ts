/**
 * The typed client: server errors become ClickHouseError with the numeric code, reads are
 * read-only and time-limited, inserts name their columns so DEFAULTs apply, rows can be
 * validated with zod, and streams yield every row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ClickHouseCodes, ClickHouseError, createClickHouse, sql } from '../../src/clickhouse/index.js';
import { createTestDatabase, type TestDatabase } from './helpers.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.ch.exec(sql`CREATE TABLE items (id UInt64, name String, n UInt32 DEFAULT 7, at DateTime('UTC') DEFAULT now()) ENGINE = MergeTree ORDER BY id`);
});
afterAll(async () => {
  await db?.drop();
});

describe('ClickHouse client wrapper', () => {
  it('parses 18.16 error codes into ClickHouseError', async () => {
    const err = await db.ch.query(sql`SELECT * FROM no_such_table`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect((err as ClickHouseError).code).toBe(ClickHouseCodes.UNKNOWN_TABLE);
    expect((err as ClickHouseError).message).toMatch(/no_such_table/);
    expect((err as ClickHouseError).isTransport).toBe(false);
  });

  it('runs reads read-only', async () => {
    const err = await db.ch.query(sql`CREATE TABLE sneaky (a UInt8) ENGINE = Memory`).catch((e: unknown) => e);
    expect((err as ClickHouseError).code).toBe(ClickHouseCodes.READONLY);
    const forced = await db.ch.query(sql`CREATE TABLE sneaky (a UInt8) ENGINE = Memory`, { settings: { readonly: '0' } }).catch((e: unknown) => e);
    expect((forced as ClickHouseError).code).toBe(ClickHouseCodes.READONLY);
  });

  it('applies max_execution_time to reads', async () => {
    // Not `number = -1`: current ClickHouse folds that impossible UInt64 comparison and answers at once.
    const err = await db.ch
      .query(sql`SELECT count() FROM system.numbers WHERE toString(number) = ${'x'}`, { settings: { max_execution_time: 1 } })
      .catch((e: unknown) => e);
    expect((err as ClickHouseError).code).toBe(ClickHouseCodes.TIMEOUT_EXCEEDED);
  });

  it('inserts with named columns so DEFAULTs apply, and validates rows with zod', async () => {
    const before = Math.floor(Date.now() / 1000) - 5;
    await db.ch.insert('items', [{ id: 1, name: 'a' }, { id: 2, name: "b'" }], { format: 'JSONEachRow', columns: ['id', 'name'] });
    const schema = z.object({ id: z.coerce.number(), name: z.string(), n: z.number(), at: z.coerce.number() });
    const rows = await db.ch.query(sql`SELECT id, name, n, toUnixTimestamp(at) AS at FROM items ORDER BY id`, { schema });
    expect(rows.map((r) => [r.id, r.name, r.n])).toEqual([[1, 'a', 7], [2, "b'", 7]]);
    for (const r of rows) expect(r.at).toBeGreaterThanOrEqual(before);
    await expect(db.ch.query(sql`SELECT ${'x'} AS id`, { schema: z.object({ id: z.number() }) })).rejects.toThrow();
  });

  it('streams rows', async () => {
    const seen: number[] = [];
    for await (const row of db.ch.stream<{ n: string }>(sql`SELECT number AS n FROM system.numbers LIMIT ${20000}`)) seen.push(Number(row.n));
    expect(seen.length).toBe(20000);
    expect(seen[19999]).toBe(19999);
  });

  it('reports transport failures with code 0 and ping false', async () => {
    const down = createClickHouse({ ...db.config, CLICKHOUSE_URL: 'http://127.0.0.1:1' });
    expect(await down.ping()).toBe(false);
    const err = await down.query(sql`SELECT 1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect((err as ClickHouseError).isTransport).toBe(true);
    await down.close();
    expect(await db.ch.ping()).toBe(true);
  });
});
