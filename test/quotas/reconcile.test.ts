/**
 * Reconciliation with ClickHouse (the source of truth, each event id once, billable 'ok' events
 * only) and the quota status the API shows, against the real per-run ClickHouse, Redis, Postgres.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createClickHouse, tables, usageEventColumns } from '../../src/clickhouse/index.js';
import { getQuotaStatus, reconcileQuotas } from '../../src/quotas/index.js';
import { billingPeriod } from '../../src/quotas/period.js';
import { closeFactories, createApiKey, createTenantWithKey, factoryDeps } from '../factories.js';
import { admitAndRelease, harness, override, request, testConfig } from './helpers.js';

const h = harness();
const config = testConfig({ QUOTA_RECONCILE_SETTLE_MS: '120000' });
const clickhouse = createClickHouse(config);
afterAll(async () => {
  await h.close();
  await clickhouse.close();
  await closeFactories();
});

function event(tenantId: string, apiKeyId: string, tsMs: number, over: Record<string, unknown> = {}) {
  return {
    event_id: randomUUID(),
    batch_id: 'b',
    tenant_id: tenantId,
    api_key_id: apiKeyId,
    request_id: 'r',
    model: 'mlp-demo',
    model_version: '1',
    ts: Math.floor(tsMs / 1000),
    ts_ms: tsMs,
    status: 'ok',
    http_status: 200,
    items: 3,
    input_bytes: 10,
    output_bytes: 10,
    queue_us: 5,
    compute_us: 3000,
    billed_compute_us: 1500,
    batch_size: 4,
    device: 'cpu',
    tag_keys: [],
    tag_values: [],
    trace_id: '',
    ...over,
  };
}

describe('reconcileQuotas', () => {
  it('replaces settled use in Redis with ClickHouse figures, keeps recent use, counts each event id once, and is idempotent', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const other = await createApiKey({ tenantId: tenant.id });
    await override({ tenantId: tenant.id, apiKeyId: key.keyId, meter: 'items', limit: 1000 });
    const at = Date.now() + 1000;
    const period = billingPeriod({ at, anchorDay: tenant.billingAnchorDay, timeZone: tenant.timezone });
    const old = Math.max(period.start.getTime() + 1000, at - 10 * 60_000);
    expect(old).toBeLessThan(at - 180_000); // the test needs a settled minute inside the period

    // Redis drifted: it saw 5 old requests (items 2 each) and 1 recent one.
    let now = old;
    const a = h.admission({ clock: () => now });
    for (let i = 0; i < 5; i++) expect((await admitAndRelease(a, request(tenant.id, key.keyId, { items: 2 }))).allowed).toBe(true);
    now = at - 30_000;
    expect((await admitAndRelease(a, request(tenant.id, key.keyId, { items: 2 }))).allowed).toBe(true);
    await a.close();

    // ClickHouse has 7 billable events in the settled past (2 of them inserted twice), 5 from the
    // other key, failures, another tenant's, last period's, and one too recent to trust yet.
    const ok = Array.from({ length: 7 }, () => event(tenant.id, key.keyId, old));
    const rows = [
      ...ok,
      { ...ok[0]! },
      { ...ok[1]! },
      ...Array.from({ length: 5 }, () => event(tenant.id, other.keyId, old, { items: 1, billed_compute_us: 100 })),
      event(tenant.id, key.keyId, old, { status: 'error' }),
      event(tenant.id, key.keyId, old, { status: 'rejected' }),
      event(randomUUID(), key.keyId, old),
      event(tenant.id, key.keyId, period.start.getTime() - 5000),
      event(tenant.id, key.keyId, at - 20_000),
    ];
    await clickhouse.insert(tables.usageEvents, rows, { columns: usageEventColumns });

    const deps = { config, redis: h.redis, clickhouse, pools: factoryDeps().pools };
    const first = await reconcileQuotas(deps, { tenantIds: [tenant.id], at: new Date(at) });
    expect(first.failed).toEqual([]);
    const fix = (apiKeyId: string | null, meter: string) => first.corrections.find((c) => c.apiKeyId === apiKeyId && c.meter === meter);
    expect(fix(null, 'requests')).toMatchObject({ before: 6, after: 7 + 5 + 1 });
    expect(fix(null, 'items')).toMatchObject({ before: 12, after: 21 + 5 + 2 });
    // Compute of every run counts, failed ones too (issue 17.3): the error and rejected rows carry 1500 µs each.
    expect(fix(null, 'compute_ms_cpu')).toMatchObject({ after: 7 * 1500 + 5 * 100 + 2 * 1500 }); // µs
    expect(fix(key.keyId, 'items')).toMatchObject({ before: 12, after: 21 + 2 });
    expect(fix(null, 'compute_ms_cuda')).toBeUndefined();

    const again = await reconcileQuotas(deps, { tenantIds: [tenant.id], at: new Date(at) });
    expect(again.corrections).toEqual([]);

    const status = await getQuotaStatus(deps, { tenantId: tenant.id, apiKeyId: key.keyId, at: new Date(at) });
    const m = (scope: string, meter: string) => status.meters.find((x) => x.scope === scope && x.meter === meter)!;
    expect(status.period).toEqual({ start: period.start, end: period.end });
    expect(m('tenant', 'requests')).toMatchObject({ limit: 1_000_000, used: 13, remaining: 1_000_000 - 13, hard: true, softThresholds: [80, 90, 100], resetAt: period.end });
    expect(m('tenant', 'compute_ms_cpu')).toMatchObject({ used: 14 }); // 14 000 µs
    expect(m('api_key', 'items')).toMatchObject({ apiKeyId: key.keyId, limit: 1000, used: 23, remaining: 977 });
    expect(status.rate).toMatchObject({ limitPerSecond: 20, burst: 40, maxConcurrency: 8, inFlight: 0 });
    expect(status.planCode).toBe('starter');
  });

  it('quota status counts from ClickHouse when Redis has no counter for the period', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'free' });
    const at = Date.now() + 1000;
    const e = event(tenant.id, key.keyId, at - 60_000, { items: 4 });
    await clickhouse.insert(tables.usageEvents, [e, { ...e }, event(tenant.id, key.keyId, at - 60_000, { status: 'error' })], { columns: usageEventColumns });
    const status = await getQuotaStatus({ config, redis: h.redis, clickhouse, pools: factoryDeps().pools }, { tenantId: tenant.id, at: new Date(at) });
    const requests = status.meters.find((x) => x.meter === 'requests')!;
    expect(requests).toMatchObject({ limit: 10_000, used: 1, remaining: 9_999, hard: true });
    expect(status.meters.find((x) => x.meter === 'items')).toMatchObject({ used: 4 });
    expect(status.meters.find((x) => x.meter === 'compute_ms_cuda')).toMatchObject({ limit: 0, remaining: 0 });
  });
});
