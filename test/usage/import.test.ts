/**
 * Platform usage import (`importUsage`, behind `tollgate usage import`): new ids land once and
 * reach the rollups; ids already stored — by inference of any age, or by an earlier import —
 * are duplicates; any bad line imports nothing; concurrent imports of one file insert each row once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, sql, tables, usageEventColumns, type ClickHouse } from '../../src/clickhouse/index.js';
import { importUsage, IMPORT_API_KEY_ID, toUsageRow } from '../../src/usage/index.js';
import { closeFactories, createTenantSince, factoryDeps } from '../factories.js';

const tenantIdSince = async (days: number) => (await createTenantSince(days)).id;
import { usageRecord } from './helpers.js';

const HOUR = 3_600_000;
const knownModels = new Set(['mlp-demo', 'mlp-large']);
let ch: ClickHouse;

beforeAll(() => {
  ch = createClickHouse(factoryDeps().config);
});
afterAll(async () => {
  await ch?.close();
  await closeFactories();
});

const run = (tenantId: string, lines: string[]) => importUsage({ clickhouse: ch, pools: factoryDeps().pools }, { tenantId, lines, knownModels });

async function stored(tenantId: string): Promise<{ raw: number; items: number; rollupItems: number; ids: string[] }> {
  const [raw] = await ch.query<{ n: string; items: string }>(sql`SELECT count() AS n, sum(items) AS items FROM usage_events_v1 WHERE tenant_id = ${tenantId}`);
  const [roll] = await ch.query<{ items: string }>(sql`SELECT sum(items) AS items FROM usage_hourly_v1 WHERE tenant_id = ${tenantId}`);
  const ids = await ch.query<{ event_id: string }>(sql`SELECT event_id FROM usage_events_v1 WHERE tenant_id = ${tenantId} ORDER BY event_id`);
  return { raw: Number(raw!.n), items: Number(raw!.items), rollupItems: Number(roll!.items), ids: ids.map((r) => r.event_id) };
}

const day = (daysAgo: number, hour = 10) => new Date(Math.floor(Date.now() / (24 * HOUR)) * 24 * HOUR - daysAgo * 24 * HOUR + hour * HOUR).toISOString();

describe('usage import', () => {
  it('imports new rows once (raw rows and rollups), maps fields, and a re-run imports nothing', async () => {
    const tenantId = await tenantIdSince(40);
    const lines = [
      JSON.stringify({ id: 'a-1', ts: day(35), model: 'mlp-demo', items: 3 }),
      JSON.stringify({ id: 'a-2', ts: day(20), model: 'mlp-large', items: 5, computeMs: 12.5, device: 'cuda', status: 'ok', tags: { team: 'x' } }),
      '',
      JSON.stringify({ id: 'a-3', ts: day(1), model: 'mlp-demo', items: 2, status: 'error' }),
    ];
    expect(await run(tenantId, lines)).toEqual({ imported: 3, duplicates: 0, rejected: [] });
    const s = await stored(tenantId);
    expect(s).toEqual({ raw: 3, items: 10, rollupItems: 10, ids: ['a-1', 'a-2', 'a-3'] });
    const [row] = await ch.query<Record<string, unknown>>(sql`SELECT api_key_id, model, status, http_status, items, compute_us, billed_compute_us, device, tag_keys, tag_values, toUnixTimestamp(ts) AS t FROM usage_events_v1 WHERE tenant_id = ${tenantId} AND event_id = 'a-2'`);
    expect(row).toMatchObject({ api_key_id: IMPORT_API_KEY_ID, model: 'mlp-large', status: 'ok', http_status: 200, items: 5, compute_us: '12500', billed_compute_us: '12500', device: 'cuda', tag_keys: ['team'], tag_values: ['x'], t: Date.parse(day(20)) / 1000 });

    expect(await run(tenantId, lines)).toEqual({ imported: 0, duplicates: 3, rejected: [] });
    expect(await stored(tenantId)).toEqual(s);
  });

  it('an id inference stored long ago is a duplicate (ClickHouse decides, not age or Redis); identical repeated lines count once', async () => {
    const tenantId = await tenantIdSince(60);
    const old = usageRecord(tenantId, { eventId: 'served-by-inference', ts: Date.parse(day(50)) });
    await ch.insert(tables.usageEvents, [toUsageRow(old, 'flusher-batch')], { columns: usageEventColumns });
    const line = JSON.stringify({ id: 'new-1', ts: day(2), model: 'mlp-demo', items: 1 });
    const r = await run(tenantId, [JSON.stringify({ id: 'served-by-inference', ts: day(3), model: 'mlp-demo', items: 9 }), line, line]);
    expect(r).toEqual({ imported: 1, duplicates: 2, rejected: [] });
    const s = await stored(tenantId);
    expect(s.ids).toEqual(['new-1', 'served-by-inference']);
    expect(s.items).toBe(old.items + 1);
    expect(s.rollupItems).toBe(old.items + 1);
  });

  it('any bad line imports nothing and each is reported with its line number', async () => {
    const tenantId = await tenantIdSince(10);
    const good = JSON.stringify({ id: 'ok-1', ts: day(1), model: 'mlp-demo', items: 1 });
    const r = await run(tenantId, [
      good,
      '{not json',
      JSON.stringify({ id: 'x', ts: day(1), model: 'mlp-demo' }),
      JSON.stringify({ id: 'x2', ts: day(1), model: 'no-such-model', items: 1 }),
      JSON.stringify({ id: 'x3', ts: day(30), model: 'mlp-demo', items: 1 }),
      JSON.stringify({ id: 'x4', ts: new Date(Date.now() + 2 * HOUR).toISOString(), model: 'mlp-demo', items: 1 }),
      JSON.stringify({ id: 'ok-1', ts: day(1), model: 'mlp-demo', items: 2 }),
      JSON.stringify({ id: 'x5', ts: '2026-13-40', model: 'mlp-demo', items: 1 }),
      JSON.stringify({ id: 'x6', ts: day(1), model: 'mlp-demo', items: -1, status: 'fine' }),
      JSON.stringify({ id: 'x7', ts: day(1), model: 'mlp-demo', items: 1, extra: true }),
    ]);
    expect(r.imported).toBe(0);
    expect(r.rejected.map((x) => x.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const errors = r.rejected.map((x) => x.error);
    expect(errors[0]).toMatch(/not a JSON object/);
    expect(errors[1]).toMatch(/items/);
    expect(errors[2]).toMatch(/unknown model "no-such-model"/);
    expect(errors[3]).toMatch(/before the tenant's first plan/);
    expect(errors[4]).toMatch(/in the future/);
    expect(errors[5]).toMatch(/repeats line 1 with different content/);
    expect(errors[6]).toMatch(/ts: .*ISO-8601/);
    expect(errors[7]).toMatch(/items/);
    expect(errors[7]).toMatch(/status/);
    expect(errors[8]).toMatch(/extra/);
    expect((await stored(tenantId)).raw).toBe(0);
  });

  it('an unknown tenant is a clear error', async () => {
    await expect(run(randomUUID(), [])).rejects.toThrow(/unknown tenant/);
    await expect(run('not-a-uuid', [])).rejects.toThrow(/not a UUID/);
  });

  it('two concurrent imports of the same file insert each row once', async () => {
    const tenantId = await tenantIdSince(5);
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ id: `c-${i}`, ts: day(1 + (i % 3), i % 24), model: 'mlp-demo', items: 1 + (i % 4) }));
    const [a, b] = await Promise.all([run(tenantId, lines), run(tenantId, lines)]);
    expect(a.imported + b.imported).toBe(500);
    expect(a.duplicates + b.duplicates).toBe(500);
    const s = await stored(tenantId);
    expect(s.raw).toBe(500);
    expect(s.rollupItems).toBe(s.items);
    expect(new Set(s.ids).size).toBe(500);
  });
});
