/**
 * WAL -> ClickHouse exactly once, against the real ClickHouse and Redis. Failures are real:
 * the flusher talks to ClickHouse through a TCP proxy the test cuts ('down') or that lets a
 * request run and then drops its response ('drop-insert-responses', an ambiguous failure); on the
 * embedded engine, which has no connection to cut, its client fails the same calls the same way
 * (startCuttableClickHouse in helpers.ts).
 * Rollup sums count every row ever inserted (merges of the ReplacingMergeTree do not hide a
 * duplicate there), so "rollup requests = acknowledged records" proves no double insert.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createRedis, type Logger, type Redis } from '../../src/shared/index.js';
import { createClickHouse, sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { createWalUsageSink, type WalUsageSink } from '../../src/usage/sink.js';
import { directClickHouse, silentLogger, startCuttableClickHouse, tempStateDir, tenantTotals, testConfig, usageRecord, type CuttableClickHouse } from './helpers.js';

let logger: Logger;
let redis: Redis;
let ch: ClickHouse;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  logger = await silentLogger();
  const config = testConfig();
  redis = createRedis(config);
  ch = directClickHouse(config);
  cleanups.push(() => redis.quit(), () => ch.close());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function makeSink(opts: { proxy?: CuttableClickHouse; walDir?: string; overrides?: Record<string, string>; redis?: Redis | null }) {
  const walDir = opts.walDir ?? (await tempStateDir('wal'));
  const config = testConfig({
    USAGE_WAL_DIR: walDir,
    USAGE_FLUSH_INTERVAL_MS: '50',
    USAGE_FLUSH_MAX_ROWS: '500',
    USAGE_WAL_SYNC_INTERVAL_MS: '2',
    ...opts.overrides,
  });
  const clickhouse = opts.proxy ? opts.proxy.client(config) : createClickHouse(config);
  const sink = createWalUsageSink({ config, logger, clickhouse, redis: opts.redis === undefined ? redis : opts.redis });
  await sink.start();
  cleanups.push(async () => {
    await sink.stop({ drain: false });
    await clickhouse.close();
  });
  return { sink, walDir, clickhouse };
}

async function recordAll(sink: WalUsageSink, tenantId: string, n: number, concurrency = 50) {
  const recs = Array.from({ length: n }, () => usageRecord(tenantId));
  for (let i = 0; i < recs.length; i += concurrency) await Promise.all(recs.slice(i, i + concurrency).map((r) => sink.record(r)));
  return recs;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('usage flusher', () => {
  it('delivers every acknowledged record once, and the rollups agree with the raw table', async () => {
    const tenantId = randomUUID();
    const { sink } = await makeSink({});
    const recs = await recordAll(sink, tenantId, 1200);
    await sink.flushNow();
    const t = await tenantTotals(ch, tenantId);
    const items = recs.reduce((s, r) => s + r.items, 0);
    expect(t.distinctEvents).toBe(1200);
    expect(t.rows).toBe(1200);
    expect(t.items).toBe(items);
    expect(t.rollupRequests).toEqual({ minute: 1200, hourly: 1200, daily: 1200 });
    expect(t.rollupItems).toEqual({ minute: items, hourly: items, daily: items });
    expect(sink.stats().flusher?.batches).toBeGreaterThan(1);
  });

  it('after a stream of flushed batches, every hourly/daily rollup sum equals the raw table and the latency quantiles match within t-digest error', async () => {
    const tenantId = randomUUID();
    const { sink } = await makeSink({ overrides: { USAGE_FLUSH_MAX_ROWS: '300' } });
    // Several models and statuses, latencies spread over two orders of magnitude.
    let i = 0;
    const recs = Array.from({ length: 3000 }, () => {
      i++;
      return usageRecord(tenantId, { model: `m${i % 3}`, status: i % 17 === 0 ? 'error' : 'ok', computeUs: 100 + ((i * 7919) % 20_000), queueUs: (i * 31) % 500 });
    });
    for (let k = 0; k < recs.length; k += 100) await Promise.all(recs.slice(k, k + 100).map((r) => sink.record(r)));
    await sink.flushNow();
    const from = Math.floor(Date.now() / 1000) - 2 * 86400;
    const cols = ['requests', 'ok_requests', 'error_requests', 'items', 'ok_items', 'input_bytes', 'output_bytes', 'compute_us', 'billed_compute_us', 'queue_us'] as const;
    const raw = await ch.query<Record<string, string>>(
      sql`SELECT model, count() AS s_requests, countIf(status = 'ok') AS s_ok_requests, countIf(status != 'ok') AS s_error_requests, sum(items) AS s_items,
                 sumIf(items, status = 'ok') AS s_ok_items, sum(input_bytes) AS s_input_bytes, sum(output_bytes) AS s_output_bytes, sum(compute_us) AS s_compute_us,
                 sum(billed_compute_us) AS s_billed_compute_us, sum(queue_us) AS s_queue_us
          FROM usage_events_v1 WHERE tenant_id = ${tenantId} AND ts >= toDateTime(${from}) GROUP BY model ORDER BY model`,
    );
    for (const table of ['hourly', 'daily'] as const) {
      const q =
        table === 'hourly'
          ? sql`SELECT model, sum(requests) AS s_requests, sum(ok_requests) AS s_ok_requests, sum(error_requests) AS s_error_requests, sum(items) AS s_items, sum(ok_items) AS s_ok_items,
                       sum(input_bytes) AS s_input_bytes, sum(output_bytes) AS s_output_bytes, sum(compute_us) AS s_compute_us, sum(billed_compute_us) AS s_billed_compute_us, sum(queue_us) AS s_queue_us
                FROM usage_hourly_v1 WHERE tenant_id = ${tenantId} AND bucket >= toDateTime(${from - 86400}) GROUP BY model ORDER BY model`
          : sql`SELECT model, sum(requests) AS s_requests, sum(ok_requests) AS s_ok_requests, sum(error_requests) AS s_error_requests, sum(items) AS s_items, sum(ok_items) AS s_ok_items,
                       sum(input_bytes) AS s_input_bytes, sum(output_bytes) AS s_output_bytes, sum(compute_us) AS s_compute_us, sum(billed_compute_us) AS s_billed_compute_us, sum(queue_us) AS s_queue_us
                FROM usage_daily_v1 WHERE tenant_id = ${tenantId} AND bucket >= toDateTime(${from - 86400}) GROUP BY model ORDER BY model`;
      const rolled = await ch.query<Record<string, string>>(q);
      expect(rolled.map((r) => [r.model, ...cols.map((c) => Number(r[`s_${c}`]))])).toEqual(raw.map((r) => [r.model, ...cols.map((c) => Number(r[`s_${c}`]))]));
    }
    expect(raw.reduce((s, r) => s + Number(r.s_requests), 0)).toBe(3000);
    const exact = await ch.query<{ model: string; q: number[] }>(
      sql`SELECT model, quantilesExact(0.5, 0.9, 0.99)(queue_us + compute_us) AS q FROM usage_events_v1
          WHERE tenant_id = ${tenantId} AND ts >= toDateTime(${from}) AND status = 'ok' GROUP BY model ORDER BY model`,
    );
    const digest = await ch.query<{ model: string; q: number[] }>(
      sql`SELECT model, quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_us) AS q FROM usage_latency_hourly_v1
          WHERE tenant_id = ${tenantId} AND bucket >= toDateTime(${from - 86400}) GROUP BY model ORDER BY model`,
    );
    expect(digest.map((d) => d.model)).toEqual(exact.map((e) => e.model));
    digest.forEach((d, m) => {
      const e = exact[m]!.q;
      const approx = [d.q[0]!, d.q[1]!, d.q[3]!];
      // t-digest: a small relative error on this spread (values 100..20,600 µs).
      approx.forEach((v, k) => expect(Math.abs(Number(v) - Number(e[k])) / Number(e[k])).toBeLessThan(0.05));
    });
  });

  it('bills a retried request id once: within a batch, across batches and after the original was flushed', async () => {
    const tenantId = randomUUID();
    const otherTenant = randomUUID();
    const { sink } = await makeSink({});
    const original = usageRecord(tenantId, { eventId: 'client-req-1' });
    await Promise.all([sink.record(original), sink.record({ ...original, ts: original.ts + 5 })]);
    await sink.flushNow();
    await sink.record({ ...original, ts: original.ts + 1000, computeUs: 999 }); // a later retry
    // The same id from another tenant is a different event.
    await sink.record(usageRecord(otherTenant, { eventId: 'client-req-1' }));
    await sink.flushNow();
    const t = await tenantTotals(ch, tenantId);
    expect(t.rollupRequests.minute).toBe(1);
    expect(t.computeUs).toBe(original.computeUs);
    expect((await tenantTotals(ch, otherTenant)).rollupRequests.minute).toBe(1);
    expect(sink.stats().flusher?.duplicatesDropped).toBe(2);
  });

  it('without Redis, the flush-time ClickHouse check still drops a retry of an event already stored', async () => {
    const tenantId = randomUUID();
    const { sink } = await makeSink({ redis: null });
    const rec = usageRecord(tenantId);
    await sink.record(rec);
    await sink.flushNow();
    await sink.record({ ...rec, ts: rec.ts + 2000 });
    await sink.flushNow();
    expect((await tenantTotals(ch, tenantId)).rollupRequests.minute).toBe(1);
  });

  it('after an ambiguous insert failure (response lost) it asks ClickHouse which rows of the batch landed and does not resend them', async () => {
    const tenantId = randomUUID();
    const proxy = await startCuttableClickHouse();
    cleanups.push(() => proxy.close());
    const { sink } = await makeSink({ proxy, overrides: { USAGE_FLUSH_INTERVAL_MS: '100000', USAGE_FLUSH_MAX_ROWS: '100000' } });
    await recordAll(sink, tenantId, 300);
    proxy.setMode('drop-insert-responses');
    await sink.flushNow(); // resolves only once the flusher knows the batch landed
    expect(proxy.dropped).toBeGreaterThan(0);
    const t = await tenantTotals(ch, tenantId);
    expect(sink.stats().flusher?.ambiguousChecks).toBeGreaterThan(0);
    expect(t.rollupRequests).toEqual({ minute: 300, hourly: 300, daily: 300 });
    expect(t.distinctEvents).toBe(300);
  });

  it('ClickHouse down during a load of thousands of records: the WAL holds them, and after it returns each lands once', async () => {
    const tenantId = randomUUID();
    const proxy = await startCuttableClickHouse();
    cleanups.push(() => proxy.close());
    const { sink, walDir } = await makeSink({ proxy });
    const first = await recordAll(sink, tenantId, 1000);
    proxy.setMode('down');
    const during = await recordAll(sink, tenantId, 3000);
    expect(sink.stats().flusher?.backlog).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 500));
    proxy.setMode('pass');
    const after = await recordAll(sink, tenantId, 1000);
    await sink.flushNow();
    const n = first.length + during.length + after.length;
    const t = await tenantTotals(ch, tenantId);
    expect(t.distinctEvents).toBe(n);
    expect(t.rollupRequests).toEqual({ minute: n, hourly: n, daily: n });
    expect(t.items).toBe([...first, ...during, ...after].reduce((s, r) => s + r.items, 0));
    expect(walDir).toBeTruthy();
  });

  it('past the disk cap while ClickHouse is down it stops accepting (503), and accepts again once drained', async () => {
    const tenantId = randomUUID();
    const proxy = await startCuttableClickHouse();
    cleanups.push(() => proxy.close());
    proxy.setMode('down');
    const { sink } = await makeSink({ proxy, overrides: { USAGE_WAL_MAX_BYTES: String(256 * 1024), USAGE_WAL_SEGMENT_BYTES: String(32 * 1024) } });
    let acked = 0;
    let refusal: unknown;
    for (let i = 0; i < 5000 && !refusal; i++) {
      try {
        await sink.record(usageRecord(tenantId));
        acked++;
      } catch (err) {
        refusal = err;
      }
    }
    expect(refusal).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
    expect(sink.accepting()).toBe(false);
    proxy.setMode('pass');
    await sink.flushNow();
    expect(sink.accepting()).toBe(true);
    const t = await tenantTotals(ch, tenantId);
    expect(t.distinctEvents).toBe(acked);
    expect(t.rollupRequests.minute).toBe(acked);
  });

  it('records left in the WAL by a stop without drain are replayed by the next sink on the same directory, once', async () => {
    const tenantId = randomUUID();
    const proxy = await startCuttableClickHouse();
    cleanups.push(() => proxy.close());
    const first = await makeSink({ proxy });
    await recordAll(first.sink, tenantId, 200);
    await first.sink.flushNow();
    proxy.setMode('down');
    await recordAll(first.sink, tenantId, 300);
    await first.sink.stop({ drain: false });
    proxy.setMode('pass');
    const second = await makeSink({ walDir: first.walDir });
    await second.sink.flushNow();
    const t = await tenantTotals(ch, tenantId);
    expect(t.distinctEvents).toBe(500);
    expect(t.rollupRequests.minute).toBe(500);
  });

  for (const mode of ['all', 'replays'] as const) {
    it(`crash window (USAGE_DEDUP_CHECK=${mode}): a batch marked in Redis and inserted but never checkpointed is not inserted again on replay`, async () => {
      const tenantId = randomUUID();
      const proxy = await startCuttableClickHouse();
      cleanups.push(() => proxy.close());
      const overrides = { USAGE_FLUSH_INTERVAL_MS: '100000', USAGE_FLUSH_MAX_ROWS: '100000', USAGE_DEDUP_CHECK: mode };
      const first = await makeSink({ proxy, overrides });
      await recordAll(first.sink, tenantId, 200);
      proxy.setMode('drop-insert-responses');
      void first.sink.flushNow().catch(() => undefined);
      await waitFor(() => proxy.dropped > 0, 'the insert to run with its answer lost');
      proxy.setMode('down'); // the "process" dies before it can learn the outcome or move the checkpoint
      await first.sink.stop({ drain: false });
      expect((await tenantTotals(ch, tenantId)).rollupRequests.minute).toBe(200);

      const second = await makeSink({ walDir: first.walDir, overrides });
      await second.sink.flushNow();
      expect(second.sink.stats().flusher?.duplicatesDropped).toBe(200);
      const t = await tenantTotals(ch, tenantId);
      expect(t.rollupRequests).toEqual({ minute: 200, hourly: 200, daily: 200 });
    });
  }
});
