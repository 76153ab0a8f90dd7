/**
 * Functional: usage series equal what was inserted into usage_events_v1 (via the materialized
 * views), and costAttribution prices each charge model as computed by hand, with slices that
 * add up exactly to the total; provider cost and margin for platform; traces and quotas.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPlatform } from '../../src/db/index.js';
import { closeFactories, createApiKey, createTenant, createUser, uniqueName } from '../factories.js';
import { insertEvents, insertSpan, randomTraceId, type EventSpec } from './data.js';
import { gql, mintJwt, startHarness, type Harness } from './harness.js';
import { parseCsv } from '../helpers/csv.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { COST_RATE_MICROS_PER_CPU_MS: '2.5', COST_RATE_MICROS_PER_CUDA_MS: '10' } });
});
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

async function adminToken(tenantId: string, role: 'admin' | 'finance' | 'member' = 'admin') {
  const u = await createUser({ tenantId, role });
  return mintJwt(h.config, { sub: u.id, tid: tenantId, role });
}

describe('usage', () => {
  const base = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
  let tenantId = '';
  let token = '';
  const keys: string[] = [];
  const events: EventSpec[] = [];

  beforeAll(async () => {
    const t = await createTenant();
    tenantId = t.id;
    token = await adminToken(t.id, 'member');
    keys.push((await createApiKey({ tenantId })).keyId, (await createApiKey({ tenantId })).keyId);
    const spec: Array<[number, string, number, Partial<EventSpec>]> = [
      // [minute offset from base, model, count, extra]
      [1, 'm1', 3, { items: 2, apiKeyId: keys[0], tags: { team: 'a' } }],
      [1, 'm2', 1, { items: 5, apiKeyId: keys[1], status: 'error' }],
      [7, 'm2', 2, { items: 1, apiKeyId: keys[1], tags: { team: 'b', env: 'prod' } }],
      [65, 'm1', 4, { items: 3, apiKeyId: keys[1], device: 'cuda', computeUs: 2500 }],
      [130, 'm3', 2, { items: 1, apiKeyId: keys[0], tags: { team: 'a' }, inputBytes: 999 }],
    ];
    for (const [minute, model, count, extra] of spec) {
      for (let i = 0; i < count; i++) events.push({ tenantId, model, ts: new Date(base + minute * 60_000 + i * 1000), ...extra });
    }
    // Another tenant's usage in the same buckets must never show up.
    const other = await createTenant();
    await insertEvents(h.clickhouse, [...events, { tenantId: other.id, model: 'm1', ts: new Date(base + 60_000), items: 100 }]);
  });

  type Point = { requests: number; errorRequests: number; items: number; servedItems: number; attemptedItems: number; inputBytes: number; outputBytes: number; computeUs: number };
  function expected(granularityMs: number, keyOf: (e: EventSpec) => string | null, from: number, to: number): Record<string, Record<string, Point>> {
    const out: Record<string, Record<string, Point>> = {};
    for (const e of events) {
      const t = e.ts.getTime();
      const bucket = Math.floor(t / granularityMs) * granularityMs;
      if (bucket < from || bucket >= to) continue;
      const key = keyOf(e);
      if (key === null) continue;
      const series = (out[key] ??= {});
      const p = (series[new Date(bucket).toISOString()] ??= { requests: 0, errorRequests: 0, items: 0, servedItems: 0, attemptedItems: 0, inputBytes: 0, outputBytes: 0, computeUs: 0 });
      p.requests += 1;
      p.errorRequests += e.status && e.status !== 'ok' ? 1 : 0;
      p.items += e.items ?? 1;
      // Served = what quotas and billing count: items of successful requests only.
      p.servedItems += !e.status || e.status === 'ok' ? (e.items ?? 1) : 0;
      p.attemptedItems += e.items ?? 1;
      p.inputBytes += e.inputBytes ?? 100;
      p.outputBytes += e.outputBytes ?? 10;
      p.computeUs += e.computeUs ?? 1000;
    }
    return out;
  }

  async function fetchUsage(vars: Record<string, unknown>) {
    const r = await gql(
      h.url,
      `query($range: TimeRangeInput!, $g: Granularity!, $by: UsageGroupBy, $tag: String) {
        usage(range: $range, granularity: $g, groupBy: $by, tagKey: $tag) {
          granularity series { key apiKey { id } points { bucket requests errorRequests items servedItems attemptedItems inputBytes outputBytes computeUs }
            columns { buckets requests errorRequests items servedItems attemptedItems inputBytes outputBytes computeUs } } } }`,
      { token, variables: vars },
    );
    expect(r.errors).toBeUndefined();
    const got: Record<string, Record<string, Point>> = {};
    for (const s of r.data.usage.series) {
      // The columnar form carries the same points.
      const cols = s.columns;
      expect(cols.buckets).toEqual(s.points.map((p: { bucket: string }) => p.bucket));
      for (const f of ['requests', 'errorRequests', 'items', 'servedItems', 'attemptedItems', 'inputBytes', 'outputBytes', 'computeUs']) expect(cols[f]).toEqual(s.points.map((p: Record<string, number>) => p[f]));
      got[s.key] = Object.fromEntries(s.points.map((p: Point & { bucket: string }) => [new Date(p.bucket).toISOString(), { ...p, bucket: undefined }])) as Record<string, Point>;
      for (const p of Object.values(got[s.key]!)) delete (p as { bucket?: string }).bucket;
    }
    return { got, series: r.data.usage.series as Array<{ key: string; apiKey: { id: string } | null }> };
  }

  const cases: Array<[string, 'MINUTE' | 'HOUR' | 'DAY', number, 'MODEL' | 'API_KEY' | 'TAG' | null]> = [
    ['minute by model', 'MINUTE', 60_000, 'MODEL'],
    ['minute ungrouped', 'MINUTE', 60_000, null],
    ['hour by api key', 'HOUR', HOUR, 'API_KEY'],
    ['hour by tag team', 'HOUR', HOUR, 'TAG'],
    ['day by model', 'DAY', DAY, 'MODEL'],
    ['day by tag team', 'DAY', DAY, 'TAG'],
  ];
  it.each(cases)('%s equals the inserted events', async (_label, g, ms, by) => {
    const from = Math.floor(base / ms) * ms;
    const to = g === 'DAY' ? from + 2 * DAY : base + 4 * HOUR;
    const keyOf = (e: EventSpec): string | null => (by === 'MODEL' ? e.model! : by === 'API_KEY' ? (e.apiKeyId ?? '') : by === 'TAG' ? (e.tags?.team ?? null) : '');
    const want = expected(ms, keyOf, from, to);
    const { got, series } = await fetchUsage({ range: { from: new Date(from).toISOString(), to: new Date(to).toISOString() }, g, by, tag: by === 'TAG' ? 'team' : null });
    expect(got).toEqual(want);
    if (by === 'API_KEY') expect(series.map((s) => s.apiKey?.id).sort()).toEqual([...keys].sort());
  });

  it('a range shorter than the data returns only buckets starting inside it', async () => {
    const from = base + HOUR;
    const to = base + 2 * HOUR;
    const { got } = await fetchUsage({ range: { from: new Date(from).toISOString(), to: new Date(to).toISOString() }, g: 'MINUTE', by: null });
    expect(got).toEqual(expected(60_000, () => '', from, to));
    expect(Object.values(got['']!).reduce((a, p) => a + p.requests, 0)).toBe(4);
  });

  it('groupBy TAG needs a tag key and HOUR or DAY', async () => {
    const range = { from: new Date(base).toISOString(), to: new Date(base + HOUR).toISOString() };
    const r1 = await gql(h.url, 'query($r: TimeRangeInput!) { usage(range: $r, granularity: HOUR, groupBy: TAG) { series { key } } }', { token, variables: { r: range } });
    expect(r1.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    const r2 = await gql(h.url, 'query($r: TimeRangeInput!) { usage(range: $r, granularity: MINUTE, groupBy: TAG, tagKey: "team") { series { key } } }', { token, variables: { r: range } });
    expect(r2.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('costAttribution', () => {
  const H = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
  let tenantId = '';
  let planCode = '';
  const range = { from: new Date(H).toISOString(), to: new Date(H + HOUR).toISOString() };

  beforeAll(async () => {
    planCode = uniqueName('gqlplan').slice(0, 60);
    await withPlatform(h.pools.app, async (c) => {
      const { rows } = await c.query(`INSERT INTO plans (code, name, priority_tier, rate_limit_rps, burst, max_concurrency) VALUES ($1, 'GraphQL test plan', 2, 10, 10, 2) RETURNING id`, [planCode]);
      const planId = rows[0].id;
      const ins = `INSERT INTO price_components (plan_id, meter, model, unit_price_micros, tiers, package_size, included_quantity, effective_from) VALUES ($1, $2, $3, $4, $5, $6, $7, '2020-01-01T00:00:00Z')`;
      await c.query(ins, [planId, 'requests', 'graduated', null, JSON.stringify([{ up_to: 10, unit_price_micros: 100 }, { up_to: 20, unit_price_micros: 50, flat_fee_micros: 1000 }, { up_to: null, unit_price_micros: 10 }]), null, 0]);
      await c.query(ins, [planId, 'items', 'volume', null, JSON.stringify([{ up_to: 5, unit_price_micros: 7 }, { up_to: null, unit_price_micros: 3, flat_fee_micros: 11 }]), null, 0]);
      await c.query(ins, [planId, 'compute_ms_cpu', 'package', '1000', null, 3, 2]);
      await c.query(ins, [planId, 'compute_ms_cuda', 'standard', '0.5', null, null, 0]);
    });
    const t = await createTenant({ plan: planCode });
    tenantId = t.id;
    // The usage below predates the tenant's creation: start its plan earlier.
    await withPlatform(h.pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2020-01-01T00:00:00Z' WHERE tenant_id = $1`, [tenantId]));
    const e = (model: string, n: number, extra: Partial<EventSpec>) => Array.from({ length: n }, (_, i) => ({ tenantId, model, ts: new Date(H + 60_000 * (i + 1)), ...extra }));
    await insertEvents(h.clickhouse, [
      ...e('m1', 8, { items: 1, computeUs: 1500, device: 'cpu', tags: { team: 'x' } }),
      ...e('m2', 9, { items: 2, computeUs: 3333, device: 'cuda', tags: { team: 'y' } }),
      ...e('m2', 2, { items: 5, computeUs: 1000, device: 'cuda', status: 'error' }),
      ...e('m3', 7, { items: 1, computeUs: 1000, device: 'cpu', tags: { team: 'x' } }),
      // Outside the range: must not count.
      { tenantId, model: 'm1', ts: new Date(H + HOUR + 5_000), items: 50 },
    ]);
  });

  const query = `query($range: TimeRangeInput!, $by: CostGroupBy!, $tag: String, $t: ID) {
    costAttribution(range: $range, groupBy: $by, tagKey: $tag, tenantId: $t) {
      currency totalMicros
      meters { meter quantity costMicros }
      slices { key costMicros meters { meter quantity costMicros } } } }`;
  const platformQuery = `query($range: TimeRangeInput!, $t: ID) {
    costAttribution(range: $range, groupBy: MODEL, tenantId: $t) { totalMicros providerCostMicros marginMicros slices { key providerCostMicros } } }`;

  it('prices graduated, volume, package and fractional standard components as computed by hand (by MODEL)', async () => {
    const r = await gql(h.url, query, { token: await adminToken(tenantId, 'finance'), variables: { range, by: 'MODEL' } });
    expect(r.errors).toBeUndefined();
    const c = r.data.costAttribution;
    // requests: 24 ok -> graduated 10x100 + 10x50 + flat 1000 + 4x10 = 2540
    // items: 8 + 18 + 7 = 33 ok items -> volume: 33 x 3 + 11 = 110
    // cpu: 12000 + 7000 us = 19 ms, 2 included -> 17 -> 6 packages x 1000 = 6000
    // cuda: 29997 + 2000 us = 31 ms x 0.5 = 15.5 -> 16 (half-up)
    expect(c.meters).toEqual([
      { meter: 'requests', quantity: 24, costMicros: '2540' },
      { meter: 'items', quantity: 33, costMicros: '110' },
      { meter: 'compute_ms_cpu', quantity: 19, costMicros: '6000' },
      { meter: 'compute_ms_cuda', quantity: 31, costMicros: '16' },
    ]);
    expect(c.totalMicros).toBe('8666');
    // Largest remainder per meter: requests 8:9:7 -> 847/952/741; items 8:18:7 -> 27/60/23; cpu 12000:7000 -> 3789/2211; cuda -> m2.
    const slices = Object.fromEntries(c.slices.map((s: { key: string; costMicros: string }) => [s.key, s.costMicros]));
    expect(slices).toEqual({ m1: '4663', m2: '1028', m3: '2975' });
    const perMeter = (key: string) => Object.fromEntries(c.slices.find((s: { key: string }) => s.key === key).meters.map((m: { meter: string; costMicros: string }) => [m.meter, m.costMicros]));
    expect(perMeter('m1')).toEqual({ requests: '847', items: '27', compute_ms_cpu: '3789', compute_ms_cuda: '0' });
    expect(perMeter('m3')).toEqual({ requests: '741', items: '23', compute_ms_cpu: '2211', compute_ms_cuda: '0' });
  });

  it.each(['MODEL', 'API_KEY', 'DAY', 'TAG'] as const)('slices by %s add up exactly to the total', async (by) => {
    const r = await gql(h.url, query, { token: await adminToken(tenantId, 'admin'), variables: { range, by, tag: by === 'TAG' ? 'team' : null } });
    expect(r.errors).toBeUndefined();
    const c = r.data.costAttribution;
    expect(c.totalMicros).toBe('8666');
    expect(c.slices.reduce((a: bigint, s: { costMicros: string }) => a + BigInt(s.costMicros), 0n)).toBe(8666n);
    for (const meter of c.meters) {
      const sum = c.slices.reduce((a: bigint, s: { meters: Array<{ meter: string; costMicros: string }> }) => a + BigInt(s.meters.find((m) => m.meter === meter.meter)!.costMicros), 0n);
      expect([meter.meter, sum]).toEqual([meter.meter, BigInt(meter.costMicros)]);
    }
    if (by === 'TAG') expect(c.slices.map((s: { key: string }) => s.key).sort()).toEqual(['', 'x', 'y']);
    if (by === 'DAY') expect(c.slices.map((s: { key: string }) => s.key)).toEqual([new Date(H).toISOString().slice(0, 10)]);
  });

  it('costExportCsv (finance) carries the same numbers as CSV', async () => {
    const r = await gql(h.url, 'query($range: TimeRangeInput!) { costExportCsv(range: $range, groupBy: MODEL) }', { token: await adminToken(tenantId, 'finance'), variables: { range } });
    expect(r.errors).toBeUndefined();
    const rows = parseCsv(r.data.costExportCsv as string);
    expect(rows[0]).toEqual(['slice', 'meter', 'quantity', 'cost_micros']);
    const body = rows.slice(1);
    expect(body.filter((x) => x[0] === 'TOTAL').map((x) => x[3])).toEqual(['2540', '110', '6000', '16']);
    const sliceSum = body.filter((x) => x[0] !== 'TOTAL').reduce((a, x) => a + BigInt(x[3]!), 0n);
    expect(sliceSum).toBe(8666n);
    expect(body).toContainEqual(['m1', 'compute_ms_cpu', '12', '3789']);
  });

  it('platform sees provider cost (compute-ms x rate per device) and margin', async () => {
    const p = await createUser({});
    const token = await mintJwt(h.config, { sub: p.id, tid: null, role: 'platform' });
    const r = await gql(h.url, platformQuery, { token, variables: { range, t: tenantId } });
    expect(r.errors).toBeUndefined();
    const c = r.data.costAttribution;
    // cpu 2.5 micros/ms: m1 12000 us -> 30, m3 7000 us -> 17 (floor 17.5); cuda 10 micros/ms: m2 31997 us -> 319
    const provider = Object.fromEntries(c.slices.map((s: { key: string; providerCostMicros: string }) => [s.key, s.providerCostMicros]));
    expect(provider).toEqual({ m1: '30', m2: '319', m3: '17' });
    expect(c.providerCostMicros).toBe('366');
    expect(c.marginMicros).toBe(String(8666 - 366));
  });

  it('tenantMargins (platform) reports the same totals, provider cost and margin per tenant', async () => {
    const p = await createUser({});
    const token = await mintJwt(h.config, { sub: p.id, tid: null, role: 'platform' });
    const empty = await createTenant({ plan: 'free' });
    const r = await gql(
      h.url,
      'query($range: TimeRangeInput!, $ids: [ID!]) { tenantMargins(range: $range, first: 10, tenantIds: $ids) { edges { node { tenant { id } totalMicros providerCostMicros marginMicros meters { meter quantity costMicros } } } } }',
      { token, variables: { range, ids: [tenantId, empty.id] } },
    );
    expect(r.errors).toBeUndefined();
    const byTenant = Object.fromEntries(r.data.tenantMargins.edges.map((e: { node: { tenant: { id: string } } }) => [e.node.tenant.id, e.node]));
    expect(byTenant[tenantId]).toMatchObject({ totalMicros: '8666', providerCostMicros: '366', marginMicros: '8300' });
    expect(byTenant[tenantId].meters.map((m: { costMicros: string }) => m.costMicros)).toEqual(['2540', '110', '6000', '16']);
    expect(byTenant[empty.id]).toMatchObject({ totalMicros: '0', providerCostMicros: '0', marginMicros: '0' });
  });

  it('a tenant without price components costs zero but still reports quantities', async () => {
    const t = await createTenant({ plan: 'free' });
    await insertEvents(h.clickhouse, [{ tenantId: t.id, ts: new Date(H + 60_000), items: 4 }]);
    const r = await gql(h.url, query, { token: await adminToken(t.id), variables: { range, by: 'MODEL' } });
    expect(r.errors).toBeUndefined();
    expect(r.data.costAttribution.totalMicros).toBe('0');
    expect(r.data.costAttribution.meters.find((m: { meter: string }) => m.meter === 'items').quantity).toBe(4);
  });

  it('costExportCsv neutralises hostile tag values (leading TAB/CR/blank before a formula, `;` separators)', async () => {
    const t = await createTenant({ plan: 'free' });
    const hostile = ['\t=1+1', '\r=1+1', ' @SUM(A1)', 'x;=HYPERLINK("http://evil","x")', '-2+3', 'plain'];
    await insertEvents(h.clickhouse, hostile.map((team, i) => ({ tenantId: t.id, ts: new Date(H + 60_000 * (i + 1)), tags: { team } })));
    const r = await gql(h.url, 'query($range: TimeRangeInput!) { costExportCsv(range: $range, groupBy: TAG, tagKey: "team") }', {
      token: await adminToken(t.id, 'finance'),
      variables: { range },
    });
    expect(r.errors).toBeUndefined();
    const csv = r.data.costExportCsv as string;
    const slices = new Set(parseCsv(csv).slice(1).map((row) => row[0]));
    const formulaStart = /^[\s\p{Cc}\p{Cf}]*[=+\-@]|^[\t\r]/u;
    for (const value of hostile) {
      const expected = formulaStart.test(value) ? `'${value}` : value;
      expect(slices).toContain(expected);
    }
    for (const cell of slices) expect(cell!.startsWith("'") || !formulaStart.test(cell!)).toBe(true);
    // Outside quoted cells there are only commas and line ends: no `;` a spreadsheet could split on.
    expect(csv.replace(/"(?:[^"]|"")*"/g, '')).toMatch(/^[^;]*$/);
  });
});

describe('traces', () => {
  it('trace(id) and requestTrace(requestId) return the spans of the tenant', async () => {
    const t = await createTenant();
    const token = await adminToken(t.id, 'member');
    const traceId = randomTraceId();
    const requestId = `req-${randomUUID()}`;
    const at = new Date(Date.now() - 10 * 60_000);
    const root = await insertSpan(h.clickhouse, { tenantId: t.id, traceId, at, name: 'POST /v2/models/m1/infer' });
    await insertSpan(h.clickhouse, { tenantId: t.id, traceId, at: new Date(at.getTime() + 1000), name: 'onnx.run', parentSpanId: root });
    await insertEvents(h.clickhouse, [{ tenantId: t.id, ts: at, requestId, traceId }]);
    const r1 = await gql(h.url, 'query($id: String!) { trace(id: $id) { traceId spans { name parentSpanId attributes { key value } events { name } } } }', { token, variables: { id: traceId.toUpperCase() } });
    expect(r1.errors).toBeUndefined();
    expect(r1.data.trace.traceId).toBe(traceId);
    expect(r1.data.trace.spans.map((s: { name: string }) => s.name)).toEqual(['POST /v2/models/m1/infer', 'onnx.run']);
    expect(r1.data.trace.spans[1].parentSpanId).toBe(root);
    expect(r1.data.trace.spans[0].attributes).toContainEqual({ key: 'tenant.id', value: t.id });
    const r2 = await gql(h.url, 'query($id: String!) { requestTrace(requestId: $id) { traceId spans { name } } }', { token, variables: { id: requestId } });
    expect(r2.errors).toBeUndefined();
    expect(r2.data.requestTrace.traceId).toBe(traceId);
    expect(r2.data.requestTrace.spans).toHaveLength(2);
  });
});

describe('quotas', () => {
  it('reports limit, used, remaining and reset for each meter of the plan', async () => {
    const t = await createTenant({ plan: 'free' });
    const token = await adminToken(t.id, 'member');
    await insertEvents(h.clickhouse, [
      { tenantId: t.id, ts: new Date(Date.now() - 60_000), items: 3, computeUs: 4000 },
      { tenantId: t.id, ts: new Date(Date.now() - 60_000), items: 2, computeUs: 2500 },
    ]);
    const r = await gql(h.url, '{ quotas { period { start end } meters { meter limit used remaining hard resetAt } rate { limitPerSecond burst maxConcurrency } } }', { token });
    expect(r.errors).toBeUndefined();
    const q = r.data.quotas;
    const byMeter = Object.fromEntries(q.meters.map((m: { meter: string }) => [m.meter, m]));
    expect(byMeter.requests).toMatchObject({ limit: 10000, used: 2, remaining: 9998, hard: true });
    expect(byMeter.items).toMatchObject({ limit: 100000, used: 5, remaining: 99995 });
    expect(byMeter.compute_ms_cpu).toMatchObject({ used: 6 });
    expect(byMeter.requests.resetAt).toBe(q.period.end);
    expect(new Date(q.period.start).getTime()).toBeLessThanOrEqual(Date.now());
    expect(q.rate).toEqual({ limitPerSecond: 5, burst: 10, maxConcurrency: 2 });
  });
});
