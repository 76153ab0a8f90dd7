/**
 * Issue 17.8 as attacks against the real API server (GraphQL over HTTP, ClickHouse, Postgres,
 * Redis). The audit's query — 15 aliases of a report, each reading tens of thousands of rollup
 * rows — pushed another tenant's inference in the same process to seconds. Now an operation's
 * rows are estimated before it runs (time buckets × series, summed over fields and aliases) and
 * refused over GRAPHQL_ROW_BUDGET without a single ClickHouse read; heavy operations are limited
 * per tenant; requestTrace's raw scan is bounded to a week. ClickHouse reads are counted at the
 * client (and those of one tenant can be held, to keep a heavy operation in flight).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouse } from '../../src/clickhouse/index.js';
import { createClickHouse } from '../../src/clickhouse/index.js';
import { loadConfig } from '../../src/config/index.js';
import { closeFactories, createTenantWithKey } from '../factories.js';
import { codes, gql, startHarness, type Harness } from '../graphql/harness.js';
import { insertEvents } from '../graphql/data.js';

let h: Harness;
let reads = 0;
let hold: { tenantId: string; release: Promise<void> } | null = null;
let real: ClickHouse;

beforeAll(async () => {
  real = createClickHouse(loadConfig());
  const counting = new Proxy(real, {
    get(target, prop) {
      if (prop === 'query' || prop === 'stream') {
        const fn = (target[prop] as (...a: unknown[]) => unknown).bind(target);
        if (prop === 'stream') return (...a: unknown[]) => (reads++, fn(...a));
        return async (...a: unknown[]) => {
          reads++;
          if (hold && JSON.stringify(a[0]).includes(hold.tenantId)) await hold.release;
          return fn(...a);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  h = await startHarness({ env: { GRAPHQL_ROW_BUDGET: '100000', GRAPHQL_SERIES_ESTIMATE: '20', GRAPHQL_HEAVY_ROWS: '20000', GRAPHQL_HEAVY_CONCURRENCY: '1' }, deps: { clickhouse: counting } });
}, 60_000);
afterAll(async () => {
  await h?.close();
  await real?.close();
  await closeFactories();
});

const HOUR = 3_600_000;
const now = () => Math.floor(Date.now() / HOUR) * HOUR;
const range = (ms: number) => ({ from: new Date(now() - ms).toISOString(), to: new Date(now()).toISOString() });

describe('17.8: GraphQL alias amplification', () => {
  it("the audit's 15-alias query is refused with a clear error before it runs", async () => {
    const { key } = await createTenantWithKey({ role: 'admin' });
    const aliases = Array.from({ length: 15 }, (_, i) => `u${i}: usage(range: $r, granularity: MINUTE, groupBy: MODEL) { series { key points { requests } } }`).join('\n');
    reads = 0;
    const r = await gql(h.url, `query($r: TimeRangeInput!) { ${aliases} }`, { token: key.secret, variables: { r: range(24 * HOUR) } });
    expect(r.status).toBe(400);
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.message).toMatch(/about 432000 rows .* budget of 100000 per operation/);
    expect(r.data ?? null).toBeNull();
    expect(reads).toBe(0);

    // The same through fragments and cost reports: 15 × costAttribution over 93 days by model.
    const cost = Array.from({ length: 15 }, (_, i) => `c${i}: costAttribution(range: $r, groupBy: MODEL) { ...C }`).join('\n');
    const r2 = await gql(h.url, `query($r: TimeRangeInput!) { ${cost} } fragment C on CostAttribution { totalMicros }`, { token: key.secret, variables: { r: range(93 * 24 * HOUR) } });
    expect([r2.status, codes(r2)]).toEqual([400, ['BAD_USER_INPUT']]);
    expect(reads).toBe(0);
  });

  it("the console's dashboard query passes and returns the tenant's usage", async () => {
    const { tenant, key } = await createTenantWithKey({ role: 'admin' });
    await insertEvents(h.clickhouse, [
      { tenantId: tenant.id, ts: new Date(now() - 2 * HOUR), model: 'm1', items: 2 },
      { tenantId: tenant.id, ts: new Date(now() - HOUR), model: 'm2', items: 3 },
    ]);
    const doc = `query($range: TimeRangeInput!, $costRange: TimeRangeInput!) {
      usage(range: $range, granularity: HOUR, groupBy: MODEL) { series { key columns { buckets requests errorRequests } latency { buckets p95Ms } } }
      byDay: costAttribution(range: $costRange, groupBy: DAY) { currency totalMicros slices { key costMicros } }
      byGroup: costAttribution(range: $costRange, groupBy: MODEL) { currency totalMicros slices { key costMicros } }
    }`;
    const r = await gql(h.url, doc, { token: key.secret, variables: { range: range(7 * 24 * HOUR), costRange: range(30 * 24 * HOUR) } });
    expect(r.errors).toBeUndefined();
    expect(r.data.usage.series.map((s: { key: string }) => s.key).sort()).toEqual(['m1', 'm2']);
  });

  it('a tenant runs one heavy operation at a time (429 + Retry-After for the next); other tenants are not held up', async () => {
    const a = await createTenantWithKey({ role: 'admin' });
    const b = await createTenantWithKey({ role: 'admin' });
    // ~30,000 rows: heavy, within the budget.
    const heavy = `query($r: TimeRangeInput!) { usage(range: $r, granularity: MINUTE, groupBy: MODEL) { series { key } } }`;
    let release!: () => void;
    hold = { tenantId: a.tenant.id, release: new Promise<void>((r) => (release = r)) };
    try {
      const first = gql(h.url, heavy, { token: a.key.secret, variables: { r: range(24 * HOUR) } });
      // Wait until the first one reads (it is then held in flight).
      const started = reads;
      for (let i = 0; i < 200 && reads === started; i++) await new Promise((r) => setTimeout(r, 25));
      const second = await gql(h.url, heavy, { token: a.key.secret, variables: { r: range(24 * HOUR) } });
      expect([second.status, codes(second)]).toEqual([429, ['RATE_LIMITED']]);
      expect(second.headers.get('retry-after')).toBe('1');
      // A light query of the same tenant, and another tenant's heavy one, run.
      expect((await gql(h.url, '{ viewer { id } }', { token: a.key.secret })).errors).toBeUndefined();
      expect((await gql(h.url, heavy, { token: b.key.secret, variables: { r: range(24 * HOUR) } })).errors).toBeUndefined();
      release();
      expect((await first).errors).toBeUndefined();
    } finally {
      release();
      hold = null;
    }
    // The slot is given back.
    expect((await gql(h.url, heavy, { token: a.key.secret, variables: { r: range(24 * HOUR) } })).errors).toBeUndefined();
  });

  it('requestTrace scans at most a week of raw events', async () => {
    const { key } = await createTenantWithKey({ role: 'admin' });
    reads = 0;
    const r = await gql(h.url, 'query($r: TimeRangeInput!) { requestTrace(requestId: "x", range: $r) { traceId } }', { token: key.secret, variables: { r: range(8 * 24 * HOUR) } });
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(reads).toBe(0);
  });
});
