/** The alerts module's write path: one live alert per (tenant, dedup key), opened, refreshed, resolved. */
import { afterAll, describe, expect, it } from 'vitest';
import { alertsPage, liveAlert, recordAlert, resolveAlertByKey, transitionAlert, upsertAlert } from '../../src/alerts/index.js';
import { withTenant } from '../../src/db/index.js';
import { closeFactories, createTenant, factoryDeps, testActor } from '../factories.js';

afterAll(closeFactories);

const base = { kind: 'anomaly', metric: 'error_ratio', severity: 'warning' as const, dedupKey: 'anomaly:error_ratio:', title: 'errors 12 % vs expected 1 %', details: { z: 9 } };

describe('alerts repository', () => {
  it('opens once, refreshes while live, resolves, and opens a new alert for the next incident', async () => {
    const { pools } = factoryDeps();
    const t = await createTenant();
    const first = await recordAlert({ pools }, { ...base, tenantId: t.id });
    expect(first.opened).toBe(true);
    expect(first.alert).toMatchObject({ kind: 'anomaly', metric: 'error_ratio', status: 'open', source: 'tollgate', tenantId: t.id });

    const again = await recordAlert({ pools }, { ...base, tenantId: t.id, title: 'errors 20 % vs expected 1 %', severity: 'critical', details: { z: 15 } });
    expect(again.opened).toBe(false);
    expect(again.alert.id).toBe(first.alert.id);
    expect(again.alert).toMatchObject({ title: 'errors 20 % vs expected 1 %', severity: 'critical', details: { z: 15 } });

    // an acknowledged alert is still live: the detector refreshes it instead of opening another
    await withTenant(pools.app, { tenantId: t.id }, (c) => transitionAlert(c, { tenantId: t.id, id: first.alert.id, to: 'acknowledged', actor: testActor }));
    const acked = await withTenant(pools.app, { tenantId: t.id }, (c) => upsertAlert(c, { ...base, tenantId: t.id }));
    expect(acked).toMatchObject({ opened: false, alert: { id: first.alert.id, status: 'acknowledged' } });

    const resolved = await withTenant(pools.app, { tenantId: t.id }, (c) => resolveAlertByKey(c, { tenantId: t.id, dedupKey: base.dedupKey, details: { resolvedBucket: 'x' } }));
    expect(resolved).toMatchObject({ id: first.alert.id, status: 'resolved', details: { z: 9, resolvedBucket: 'x' } });
    expect(resolved!.resolvedAt).toBeInstanceOf(Date);
    expect(await withTenant(pools.app, { tenantId: t.id }, (c) => resolveAlertByKey(c, { tenantId: t.id, dedupKey: base.dedupKey }))).toBeNull();
    expect(await withTenant(pools.app, { tenantId: t.id }, (c) => liveAlert(c, { tenantId: t.id, dedupKey: base.dedupKey }))).toBeNull();

    const next = await recordAlert({ pools }, { ...base, tenantId: t.id });
    expect(next.opened).toBe(true);
    expect(next.alert.id).not.toBe(first.alert.id);
    const page = await withTenant(pools.app, { tenantId: t.id }, (c) => alertsPage(c, { tenantId: t.id, status: null, limit: 10, after: null }));
    expect(page.map((a) => a.status)).toEqual(['open', 'resolved']);
  });

  it("never touches another tenant's alert with the same key", async () => {
    const { pools } = factoryDeps();
    const [a, b] = [await createTenant(), await createTenant()];
    const ra = await recordAlert({ pools }, { ...base, tenantId: a.id });
    const rb = await recordAlert({ pools }, { ...base, tenantId: b.id });
    expect(rb.opened).toBe(true);
    expect(rb.alert.id).not.toBe(ra.alert.id);
    await withTenant(pools.app, { tenantId: b.id }, (c) => resolveAlertByKey(c, { tenantId: b.id, dedupKey: base.dedupKey }));
    expect(await withTenant(pools.app, { tenantId: a.id }, (c) => liveAlert(c, { tenantId: a.id, dedupKey: base.dedupKey }))).toMatchObject({ id: ra.alert.id, status: 'open' });
  });
});
