/**
 * The materialized-view rollups agree with the raw usage table: a few thousand random events
 * (several tenants, models, keys, devices, hours, days, tags) are inserted in several batches,
 * then the minute/hourly/daily sums and the tag attribution equal the raw aggregates exactly
 * (read with sum() ... GROUP BY, never relying on merges), and the latency quantile states
 * (-Merge) stay within t-digest error of the exact quantiles. Also the trace-id index.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident, inList, join, latencyLevels, sql, tables, usageEventColumns, usageSumColumns } from '../../src/clickhouse/index.js';
import type { UsageRow } from '../../src/usage/index.js';
import { createTestDatabase, prng, testSeed, type TestDatabase } from './helpers.js';

const seed = testSeed('rollups.test');
const rand = prng(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

type SumKey = (typeof usageSumColumns)[number];
type Sums = Record<SumKey, number>;
/** A raw row exactly as metering writes it. */
type Event = UsageRow;

const tenants = [randomUUID(), randomUUID(), randomUUID()];
const keysByTenant = new Map(tenants.map((t) => [t, [randomUUID(), randomUUID()]]));
const models = ['mlp', 'silero-vad', 'ocr-rec'];
const statuses = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'client_error', 'rejected', 'timeout', 'error'];
const httpFor: Record<string, number> = { ok: 200, client_error: 400, rejected: 429, timeout: 504, error: 500 };
const tagValues: Record<string, string[]> = { team: ['search', 'ads', "o'brien"], project: ['p1', 'p2', 'prøject😀'], env: ['prod', 'dev'] };
// Crosses a month boundary, so rows land in several partitions.
const start = Math.floor(Date.UTC(2026, 0, 30, 20, 0, 0) / 1000);
const span = 3 * 86400;

function randomEvent(batchId: string): Event {
  // Tenant 0 gets half the traffic on one model/key/device so some latency groups are large.
  const hot = rand() < 0.5;
  const tenant = hot ? tenants[0]! : pick(tenants);
  const status = hot ? 'ok' : pick(statuses);
  const ran = status !== 'rejected';
  const tagKeys = Object.keys(tagValues).filter(() => rand() < 0.4);
  const ts = start + int(span);
  const compute = ran ? Math.floor(Math.exp(rand() * 12)) : 0;
  const e: Event = {
    event_id: randomUUID(),
    batch_id: batchId,
    tenant_id: tenant,
    api_key_id: hot ? keysByTenant.get(tenant)![0]! : pick(keysByTenant.get(tenant)!),
    request_id: randomUUID(),
    model: hot ? models[0]! : pick(models),
    model_version: '1',
    ts,
    ts_ms: ts * 1000 + int(1000),
    status,
    http_status: httpFor[status]!,
    items: 1 + int(64),
    input_bytes: int(1_000_000),
    output_bytes: int(100_000),
    queue_us: ran ? int(50_000) : 0,
    compute_us: compute,
    billed_compute_us: Math.floor(compute * rand()),
    batch_size: ran ? 1 + int(64) : 0,
    device: hot ? 'cpu' : pick(['cpu', 'cuda']),
    tag_keys: tagKeys,
    tag_values: tagKeys.map((k) => pick(tagValues[k]!)),
    trace_id: randomUUID().replace(/-/g, ''),
  };
  return e;
}

function addSums(acc: Sums | undefined, e: Event): Sums {
  const s = acc ?? (Object.fromEntries(usageSumColumns.map((c) => [c, 0])) as Sums);
  const ok = e.status === 'ok';
  s.requests += 1;
  s.ok_requests += ok ? 1 : 0;
  s.error_requests += ok ? 0 : 1;
  s.client_error_requests += e.status === 'client_error' ? 1 : 0;
  s.rejected_requests += e.status === 'rejected' ? 1 : 0;
  s.timeout_requests += e.status === 'timeout' ? 1 : 0;
  s.items += e.items;
  s.ok_items += ok ? e.items : 0;
  s.input_bytes += e.input_bytes;
  s.output_bytes += e.output_bytes;
  s.compute_us += e.compute_us;
  s.billed_compute_us += e.billed_compute_us;
  s.queue_us += e.queue_us;
  return s;
}

const grains = [
  { table: tables.usageMinute, seconds: 60 },
  { table: tables.usageHourly, seconds: 3600 },
  { table: tables.usageDaily, seconds: 86400 },
] as const;
const bucketOf = (ts: number, seconds: number) => ts - (ts % seconds);
const keyOf = (...parts: Array<string | number>) => parts.join('|');

let db: TestDatabase;
const events: Event[] = [];
/** `sum(c) AS c` for every summed column (each source column is referenced once). */
const sumSelect = () => join(usageSumColumns.map((c) => sql`sum(${ident(c, usageSumColumns)}) AS ${ident(c, usageSumColumns)}`));

function normalise(row: Record<string, unknown>): Sums {
  return Object.fromEntries(usageSumColumns.map((c) => [c, Number(row[c])])) as Sums;
}

beforeAll(async () => {
  db = await createTestDatabase({ migrate: true });
  for (let b = 0; b < 6; b++) {
    const batchId = randomUUID();
    const batch = Array.from({ length: 500 }, () => randomEvent(batchId));
    if (b === 0) {
      // Unequal tag arrays must not fail the insert (the view reads a missing value as '').
      batch[0]!.tag_keys = ['orphan'];
      batch[0]!.tag_values = [];
    }
    events.push(...batch);
    await db.ch.insert(tables.usageEvents, batch, { format: 'JSONEachRow', columns: usageEventColumns });
  }
});
afterAll(async () => {
  await db?.drop();
});

const range = () => sql`tenant_id IN ${inList(tenants)} AND bucket >= ${new Date(start * 1000 - 86400_000)} AND bucket < ${new Date((start + span + 86400) * 1000)}`;

describe('usage rollups fed by materialized views', () => {
  it('the raw table holds every event, with inserted_at defaulted', async () => {
    const [r] = await db.ch.query<{ n: string; zero: string }>(
      sql`SELECT count() AS n, countIf(inserted_at < toDateTime(${1_000_000})) AS zero FROM usage_events_v1 WHERE tenant_id IN ${inList(tenants)} AND ts >= ${new Date(start * 1000)} AND ts < ${new Date((start + span) * 1000)}`,
    );
    expect(Number(r!.n)).toBe(events.length);
    expect(r!.zero).toBe('0');
  });

  for (const grain of grains) {
    it(`${grain.table} sums equal the raw aggregates`, async () => {
      const expected = new Map<string, Sums>();
      for (const e of events) {
        const k = keyOf(e.tenant_id, bucketOf(e.ts, grain.seconds), e.model, e.api_key_id, e.device);
        expected.set(k, addSums(expected.get(k), e));
      }
      const table = ident(grain.table, [grain.table]);
      const rows = await db.ch.query<Record<string, string>>(
        sql`SELECT tenant_id, toUnixTimestamp(bucket) AS b, model, api_key_id, device, ${sumSelect()}
            FROM ${table} WHERE ${range()} GROUP BY tenant_id, bucket, model, api_key_id, device`,
      );
      const actual = new Map(rows.map((r) => [keyOf(r.tenant_id!, Number(r.b), r.model!, r.api_key_id!, r.device!), normalise(r)]));
      expect(actual.size).toBe(expected.size);
      for (const [k, v] of expected) expect(actual.get(k), `seed=${seed} ${grain.table} ${k}`).toEqual(v);

      // The same figures straight from the raw table, computed by ClickHouse.
      const bucketExpr = grain.seconds === 60 ? sql`toStartOfMinute(ts)` : grain.seconds === 3600 ? sql`toStartOfHour(ts)` : sql`toStartOfDay(ts)`;
      const raw = await db.ch.query<Record<string, string>>(
        sql`SELECT tenant_id, toUnixTimestamp(${bucketExpr}) AS b, model, api_key_id, device, count() AS r_requests,
                   sum(items) AS r_items, sumIf(items, status = 'ok') AS r_ok_items, sum(billed_compute_us) AS r_billed
            FROM usage_events_v1 WHERE tenant_id IN ${inList(tenants)} GROUP BY tenant_id, b, model, api_key_id, device`,
      );
      expect(raw.length).toBe(expected.size);
      for (const r of raw) {
        const v = actual.get(keyOf(r.tenant_id!, Number(r.b), r.model!, r.api_key_id!, r.device!))!;
        expect([v.requests, v.items, v.ok_items, v.billed_compute_us]).toEqual([Number(r.r_requests), Number(r.r_items), Number(r.r_ok_items), Number(r.r_billed)]);
      }
    });
  }

  it('usage_tags_hourly_v1 attributes usage to each tag', async () => {
    const expected = new Map<string, Sums>();
    for (const e of events) {
      e.tag_keys.forEach((k, i) => {
        const key = keyOf(e.tenant_id, bucketOf(e.ts, 3600), k, e.tag_values[i] ?? '', e.model, e.device);
        expected.set(key, addSums(expected.get(key), e));
      });
    }
    const rows = await db.ch.query<Record<string, string>>(
      sql`SELECT tenant_id, toUnixTimestamp(bucket) AS b, tag_key, tag_value, model, device, ${sumSelect()}
          FROM usage_tags_hourly_v1 WHERE ${range()} GROUP BY tenant_id, bucket, tag_key, tag_value, model, device`,
    );
    const actual = new Map(rows.map((r) => [keyOf(r.tenant_id!, Number(r.b), r.tag_key!, r.tag_value!, r.model!, r.device!), normalise(r)]));
    expect(actual.size).toBe(expected.size);
    for (const [k, v] of expected) expect(actual.get(k), `seed=${seed} tags ${k}`).toEqual(v);
    expect([...actual.keys()].some((k) => k.includes('|orphan||'))).toBe(true);
    expect([...actual.keys()].some((k) => k.includes("o'brien"))).toBe(true);
  });

  for (const grain of grains) {
    it(`${grain.table.replace('usage_', 'usage_latency_')} quantiles are within t-digest error of the exact ones`, async () => {
      const groups = new Map<string, number[]>();
      for (const e of events) {
        if (e.status !== 'ok') continue;
        const k = keyOf(e.tenant_id, bucketOf(e.ts, grain.seconds), e.model, e.api_key_id, e.device);
        const list = groups.get(k) ?? [];
        list.push(e.queue_us + e.compute_us);
        groups.set(k, list);
      }
      const name = grain.table.replace('usage_', 'usage_latency_');
      const rows = await db.ch.query<{ tenant_id: string; b: string; model: string; api_key_id: string; device: string; q: number[]; mx: string }>(
        sql`SELECT tenant_id, toUnixTimestamp(bucket) AS b, model, api_key_id, device,
                   quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_us) AS q, maxMerge(latency_max_us) AS mx
            FROM ${ident(name, [name])} WHERE ${range()} GROUP BY tenant_id, bucket, model, api_key_id, device`,
      );
      let checked = 0;
      let largest = 0;
      for (const r of rows) {
        const values = groups.get(keyOf(r.tenant_id, Number(r.b), r.model, r.api_key_id, r.device));
        if (!values) continue; // a group with only failed requests has an empty state
        values.sort((a, b) => a - b);
        const n = values.length;
        largest = Math.max(largest, n);
        expect(Number(r.mx)).toBe(values[n - 1]);
        latencyLevels.forEach((p, i) => {
          // Rank tolerance: 2% of n plus one neighbour on each side (interpolation).
          const slack = Math.ceil(0.02 * n) + 1;
          const lo = values[Math.max(0, Math.floor(p * (n - 1)) - slack)]!;
          const hi = values[Math.min(n - 1, Math.ceil(p * (n - 1)) + slack)]!;
          const got = r.q[i]!;
          expect(got, `seed=${seed} ${name} p${p} n=${n} got ${got} not in [${lo}, ${hi}]`).toBeGreaterThanOrEqual(lo * 0.999);
          expect(got, `seed=${seed} ${name} p${p} n=${n}`).toBeLessThanOrEqual(hi * 1.001);
        });
        checked++;
      }
      expect(checked).toBe(groups.size);
      if (grain.seconds === 86400) expect(largest).toBeGreaterThan(300);
    });
  }

  it('sums stay equal after parts are merged', async () => {
    await db.ch.exec(sql`OPTIMIZE TABLE usage_hourly_v1 FINAL`);
    const [r] = await db.ch.query<{ n: string; items: string }>(sql`SELECT sum(requests) AS n, sum(items) AS items FROM usage_hourly_v1 WHERE ${range()}`);
    expect(Number(r!.n)).toBe(events.length);
    expect(Number(r!.items)).toBe(events.reduce((a, e) => a + e.items, 0));
  });
});

describe('otel trace id index', () => {
  it('maps each trace to its time range and span count', async () => {
    const tenant = randomUUID();
    const traces = Array.from({ length: 20 }, () => randomUUID().replace(/-/g, ''));
    const spans: Array<Record<string, unknown>> = [];
    for (let b = 0; b < 3; b++) {
      const batch = Array.from({ length: 200 }, () => {
        const ns = BigInt(start + int(span)) * 1_000_000_000n + BigInt(int(1_000_000_000));
        return {
          TenantId: tenant,
          Timestamp: Number(ns / 1_000_000_000n),
          TimestampNs: ns.toString(),
          TraceId: pick(traces),
          SpanId: randomUUID().slice(0, 16),
          SpanName: pick(['infer', 'queue', 'batch']),
          SpanKind: 'Internal',
          ServiceName: 'tollgate',
          Duration: int(1e9),
          StatusCode: 'Ok',
          'Events.Timestamp': [ns.toString()],
          'Events.Name': ['batched'],
          'Events.AttributesKeys': [['batch.size']],
          'Events.AttributesValues': [['4']],
        };
      });
      spans.push(...batch);
      await db.ch.insert(tables.otelTraces, batch, { format: 'JSONEachRow' });
    }
    const rows = await db.ch.query<{ TraceId: string; Start: number; End: number; n: string }>(
      sql`SELECT TraceId, toUnixTimestamp(minMerge(Start)) AS Start, toUnixTimestamp(maxMerge(End)) AS End, countMerge(SpanCount) AS n
          FROM otel_traces_trace_id_ts_v1 WHERE TenantId = ${tenant} GROUP BY TenantId, TraceId`,
    );
    const expected = new Map<string, { start: number; end: number; n: number }>();
    for (const s of spans) {
      const t = s.Timestamp as number;
      const cur = expected.get(s.TraceId as string) ?? { start: Infinity, end: -Infinity, n: 0 };
      expected.set(s.TraceId as string, { start: Math.min(cur.start, t), end: Math.max(cur.end, t), n: cur.n + 1 });
    }
    expect(rows.length).toBe(expected.size);
    for (const r of rows) expect({ start: r.Start, end: r.End, n: Number(r.n) }).toEqual(expected.get(r.TraceId));

    // The documented lookup: index -> time range -> spans of the trace.
    const trace = rows[0]!;
    const found = await db.ch.query<{ n: string }>(
      sql`SELECT count() AS n FROM otel_traces_v1 WHERE TenantId = ${tenant} AND Timestamp >= ${new Date(trace.Start * 1000)} AND Timestamp <= ${new Date(trace.End * 1000)} AND TraceId = ${trace.TraceId}`,
    );
    expect(Number(found[0]!.n)).toBe(expected.get(trace.TraceId)!.n);
  });
});
