import { afterAll, describe, expect, it } from 'vitest';
import { getEffectiveLimits, getPlan, getPriceComponents, listPlans, setQuotaOverride, listQuotaOverrides, type EffectiveLimits } from '../../src/plans/index.js';
import { currentPlan, listTenantPlans, setTenantPlan, getTenant, listTenants, createTenant as createTenantRepo } from '../../src/tenants/index.js';
import { listAudit } from '../../src/audit/index.js';
import { withTenant } from '../../src/db/index.js';
import { priceComponentFromRow, chargeMicros } from '../../src/billing/index.js';
import { meters } from '../../src/metering/index.js';
import { closeFactories, createApiKey, createTenant, factoryDeps, testActor, uniqueName } from '../factories.js';

const { pools } = factoryDeps();
/** Tenants whose limits change was announced, in order (the writes announce it themselves). */
const announced: string[] = [];
const deps = { pools, announceLimits: async (tenantId: string) => void announced.push(tenantId) };
const quota = (l: EffectiveLimits | null, meter: string) => l?.tenant.quotas.find((q) => q.meter === meter);
afterAll(closeFactories);

describe('seeded plans', () => {
  it('has free < starter < pro < enterprise in priority, rate, burst and concurrency', async () => {
    const plans = await listPlans(deps);
    const std = ['free', 'starter', 'pro', 'enterprise'].map((code) => plans.find((p) => p.code === code)!);
    expect(std.map((p) => p.priorityTier)).toEqual([1, 2, 3, 4]);
    expect(std.map((p) => p.rateLimitRps)).toEqual([5, 20, 100, 500]);
    for (let i = 1; i < std.length; i++) {
      expect(std[i]!.burst).toBeGreaterThan(std[i - 1]!.burst);
      expect(std[i]!.maxConcurrency).toBeGreaterThan(std[i - 1]!.maxConcurrency);
    }
    for (const p of std) {
      expect(p.quotas.map((q) => q.meter).sort()).toEqual(['compute_ms_cpu', 'compute_ms_cuda', 'items', 'requests']);
      expect(p.burst).toBeGreaterThanOrEqual(p.rateLimitRps);
    }
    expect(std[0]!.quotas.every((q) => q.hard)).toBe(true);
    expect(std[3]!.quotas.every((q) => !q.hard)).toBe(true);
    expect(await getPlan(deps, { code: 'nope' })).toBeNull();
  });

  it('prices starter by package, pro graduated, enterprise volume; every component parses for billing', async () => {
    const models: Record<string, Set<string>> = {};
    for (const code of ['free', 'starter', 'pro', 'enterprise']) {
      const plan = (await getPlan(deps, { code }))!;
      const comps = await getPriceComponents(deps, { planId: plan.id, at: new Date() });
      models[code] = new Set(comps.map((c) => c.model));
      for (const c of comps) expect(() => priceComponentFromRow(c as unknown as Record<string, unknown>)).not.toThrow();
    }
    expect(models.free!.size).toBe(0);
    expect(models.starter).toContain('package');
    expect([...models.pro!]).toEqual(['graduated']);
    expect([...models.enterprise!]).toEqual(['volume']);
    // Starter requests: 10,000 included, then $0.50 per started 1,000 => 12,001 requests = 3 packs = $1.50.
    const starter = (await getPlan(deps, { code: 'starter' }))!;
    const req = (await getPriceComponents(deps, { planId: starter.id })).find((c) => c.meter === 'requests')!;
    expect(chargeMicros(priceComponentFromRow(req as unknown as Record<string, unknown>), 12_001n)).toBe(1_500_000n);
    // Nothing was in effect before the price book starts.
    expect(await getPriceComponents(deps, { planId: starter.id, at: new Date('2019-01-01T00:00:00Z') })).toEqual([]);
  });
});

describe('tenants and plans', () => {
  it('creates a tenant on a plan, audited, and validates input', async () => {
    const t = await createTenant({ plan: 'pro', timezone: 'Europe/Berlin' });
    expect((await getTenant(deps, { tenantId: t.id }))).toMatchObject({ id: t.id, timezone: 'Europe/Berlin', status: 'active', currency: 'USD' });
    expect((await currentPlan(deps, { tenantId: t.id }))?.plan.code).toBe('pro');
    const audit = await withTenant(pools.app, { tenantId: t.id }, (c) => listAudit(c, { tenantId: t.id }));
    expect(audit.map((a) => a.action)).toEqual(['tenant.create']);
    await expect(createTenantRepo(deps, { name: 'Bad Name!', plan: 'free' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(createTenantRepo(deps, { name: uniqueName(), plan: 'gold' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(createTenantRepo(deps, { name: uniqueName(), plan: 'free', timezone: 'Mars/Olympus' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(createTenantRepo(deps, { name: t.name, plan: 'free' })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await listTenants(deps)).some((x) => x.id === t.id)).toBe(true);
  });

  it('a plan change closes the current row, opens a new one, and is audited with before/after', async () => {
    const t = await createTenant({ plan: 'starter' });
    const before = new Date();
    await new Promise((r) => setTimeout(r, 5));
    announced.length = 0;
    const result = await setTenantPlan(deps, { tenantId: t.id, plan: 'pro', actor: { type: 'user', id: 'ops@example.test', requestId: 'req-1' } });
    expect(result).toEqual({ changed: true, from: 'starter', to: 'pro' });
    expect(announced).toEqual([t.id]); // the write announced its change
    expect((await currentPlan(deps, { tenantId: t.id }))?.plan.code).toBe('pro');
    expect((await currentPlan(deps, { tenantId: t.id, at: before }))?.plan.code).toBe('starter');
    const history = await listTenantPlans(deps, { tenantId: t.id });
    expect(history.map((h) => [h.planCode, h.effectiveTo === null])).toEqual([
      ['starter', false],
      ['pro', true],
    ]);
    expect(history[0]!.effectiveTo!.getTime()).toBe(history[1]!.effectiveFrom.getTime());
    const audit = await withTenant(pools.app, { tenantId: t.id }, (c) => listAudit(c, { tenantId: t.id, targetType: 'tenant' }));
    const change = audit.find((a) => a.action === 'tenant.plan_change')!;
    expect(change).toMatchObject({ actorType: 'user', actorId: 'ops@example.test', requestId: 'req-1', before: { plan: 'starter' }, after: { plan: 'pro' } });
    // Same plan again: no new row, no audit entry.
    expect((await setTenantPlan(deps, { tenantId: t.id, plan: 'pro', actor: testActor })).changed).toBe(false);
    expect(await listTenantPlans(deps, { tenantId: t.id })).toHaveLength(2);
    expect(announced).toEqual([t.id]); // nothing changed, nothing announced
    // Limits follow the plan in force at the asked time.
    expect((await getEffectiveLimits(deps, { tenantId: t.id }))?.tenant.rate?.rps).toBe(100);
    expect((await getEffectiveLimits(deps, { tenantId: t.id, at: before }))?.tenant.rate?.rps).toBe(20);
  });
});

describe('getEffectiveLimits', () => {
  it('returns the plan’s limits, then tenant-wide and per-key overrides on top', async () => {
    const t = await createTenant({ plan: 'starter' });
    const key = await createApiKey({ tenantId: t.id });
    const other = await createApiKey({ tenantId: t.id });
    const base = (await getEffectiveLimits(deps, { tenantId: t.id, apiKeyId: key.keyId }))!;
    expect(base).toMatchObject({ tenantId: t.id, apiKeyId: key.keyId, planCode: 'starter', priorityTier: 2, tenant: { rate: { rps: 20, burst: 40 }, concurrency: 8 }, key: null, timeZone: 'UTC', billingAnchorDay: 1 });
    expect(quota(base, 'requests')).toEqual({ meter: 'requests', limit: 1_000_000, hard: true, softThresholds: [80, 90, 100] });
    announced.length = 0;
    const beforeOverrides = new Date();
    await new Promise((r) => setTimeout(r, 5));

    await setQuotaOverride(deps, { tenantId: t.id, meter: 'requests', limit: 5_000_000, reason: 'launch', actor: testActor });
    await setQuotaOverride(deps, { tenantId: t.id, meter: 'concurrency', limit: 16, actor: testActor });
    await setQuotaOverride(deps, { tenantId: t.id, apiKeyId: key.keyId, meter: 'rate', limit: 2, actor: testActor });
    await setQuotaOverride(deps, { tenantId: t.id, apiKeyId: key.keyId, meter: 'items', limit: 100, hard: false, actor: testActor });

    expect(announced).toEqual([t.id, t.id, t.id, t.id]);
    const eff = (await getEffectiveLimits(deps, { tenantId: t.id, apiKeyId: key.keyId }))!;
    expect(quota(eff, 'requests')).toEqual({ meter: 'requests', limit: 5_000_000, hard: true, softThresholds: [80, 90, 100] });
    expect(eff.tenant.concurrency).toBe(16);
    expect(eff.tenant.rate).toEqual({ rps: 20, burst: 40 }); // the key's cap does not change the tenant's
    expect(eff.key).toEqual({ rate: { rps: 2, burst: 2 }, concurrency: null, quotas: [{ meter: 'items', limit: 100, hard: false, softThresholds: [80, 90, 100] }] });
    // Every meter of the registry is listed for the tenant, unlimited ones as Infinity.
    expect(eff.tenant.quotas.map((q) => q.meter)).toEqual([...meters]);
    expect((await getEffectiveLimits(deps, { tenantId: t.id, apiKeyId: other.keyId }))!.key).toBeNull();
    expect(quota(await getEffectiveLimits(deps, { tenantId: t.id, at: beforeOverrides }), 'requests')?.limit).toBe(1_000_000);

    // Replacing an override closes the old row; clearing returns to the plan.
    await setQuotaOverride(deps, { tenantId: t.id, meter: 'requests', limit: 7, actor: testActor });
    expect(quota(await getEffectiveLimits(deps, { tenantId: t.id }), 'requests')?.limit).toBe(7);
    await setQuotaOverride(deps, { tenantId: t.id, meter: 'requests', limit: null, actor: testActor });
    expect(quota(await getEffectiveLimits(deps, { tenantId: t.id }), 'requests')).toMatchObject({ limit: 1_000_000, hard: true });
    expect((await listQuotaOverrides(deps, { tenantId: t.id })).map((o) => o.meter).sort()).toEqual(['concurrency', 'items', 'rate']);
    const audit = await withTenant(pools.app, { tenantId: t.id }, (c) => listAudit(c, { tenantId: t.id, targetType: 'quota_override' }));
    expect(audit.map((a) => a.action).sort()).toEqual(['quota_override.clear', ...Array(5).fill('quota_override.set')]);
  });

  it('is tenant-scoped: another tenant’s key overrides never apply, unknown tenants give null', async () => {
    const a = await createTenant({ plan: 'free' });
    const b = await createTenant({ plan: 'enterprise' });
    const bKey = await createApiKey({ tenantId: b.id });
    await setQuotaOverride(deps, { tenantId: b.id, apiKeyId: bKey.keyId, meter: 'rate', limit: 1, actor: testActor });
    const effA = (await getEffectiveLimits(deps, { tenantId: a.id, apiKeyId: bKey.keyId }))!;
    expect(effA).toMatchObject({ planCode: 'free', tenant: { rate: { rps: 5 } }, key: null });
    expect(effA.tenant.quotas.find((q) => q.limit === 0)).toMatchObject({ hard: true }); // free: no CUDA compute
    expect(await getEffectiveLimits(deps, { tenantId: '00000000-0000-4000-8000-000000000000' })).toBeNull();
    // An override naming another tenant's key is refused by the database.
    await expect(setQuotaOverride(deps, { tenantId: a.id, apiKeyId: bKey.keyId, meter: 'rate', limit: 1, actor: testActor })).rejects.toThrow();
  });
});
