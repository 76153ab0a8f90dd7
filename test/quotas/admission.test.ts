/**
 * Admission against the real per-run Redis and Postgres: rate limits, concurrency caps, hard and
 * soft quotas, per-key overrides, idempotent event ids, compute charged on release, headers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { closeFactories, createApiKey, createTenantWithKey } from '../factories.js';
import { admitAndRelease, harness, override, request } from './helpers.js';
import type { QuotaNotification } from '../../src/quotas/index.js';

const h = harness();
afterAll(async () => {
  await h.close();
  await closeFactories();
});

describe('admission: rate limits', () => {
  it('admits the burst, refuses the next request with 429 + Retry-After, and puts RateLimit headers on responses', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'rate', limit: 1 });
    await override({ tenantId: tenant.id, meter: 'burst', limit: 5 });
    const a = h.admission();
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await admitAndRelease(a, request(tenant.id, key.keyId)));
    expect(decisions.slice(0, 5).every((d) => d.allowed)).toBe(true);
    const first = decisions[0]!;
    expect(first.headers['RateLimit-Limit']).toBe('5');
    expect(first.headers['RateLimit-Policy']).toBe('5;w=5');
    expect(Number(first.headers['RateLimit-Remaining'])).toBeLessThanOrEqual(5);
    const last = decisions[5]!;
    expect(last.allowed).toBe(false);
    if (last.allowed) return;
    expect(last.status).toBe(429);
    expect(last.code).toBe('RATE_LIMITED');
    expect(last.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(last.headers['Retry-After']).toBe(String(last.retryAfterSeconds));
    expect(last.headers['RateLimit-Remaining']).toBe('0');
  });

  it('a key with its own rate cap is limited by it while other keys of the tenant are not', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const other = await createApiKey({ tenantId: tenant.id });
    await override({ tenantId: tenant.id, apiKeyId: key.keyId, meter: 'rate', limit: 1 });
    await override({ tenantId: tenant.id, apiKeyId: key.keyId, meter: 'burst', limit: 2 });
    const a = h.admission();
    const capped = [];
    for (let i = 0; i < 4; i++) capped.push((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed);
    expect(capped).toEqual([true, true, false, false]);
    for (let i = 0; i < 4; i++) expect((await admitAndRelease(a, request(tenant.id, other.keyId))).allowed).toBe(true);
  });
});

describe('admission: concurrency', () => {
  it('caps requests in flight under parallel load and frees a slot on release', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'concurrency', limit: 3 });
    const a = h.admission();
    const b = h.admission(); // a second "replica" sharing Redis
    const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).admit(request(tenant.id, key.keyId))));
    const allowed = decisions.filter((d) => d.allowed);
    expect(allowed).toHaveLength(3);
    const refused = decisions.find((d) => !d.allowed);
    expect(refused && !refused.allowed && refused.status).toBe(429);
    expect(refused && !refused.allowed && refused.details?.limit).toBe('concurrency');
    for (const d of allowed) if (d.allowed) d.ticket.release({ computeUs: 0, items: 1, ok: true });
    // Freed slots may sit with the releasing replica for its hold time; either replica gets them within it.
    const again = await Promise.all([a, b, a, b, a, b].map((x) => x.admit(request(tenant.id, key.keyId))));
    await new Promise((r) => setTimeout(r, 120));
    const later = await Promise.all([a, b, a, b].map((x) => x.admit(request(tenant.id, key.keyId))));
    expect([...again, ...later].filter((d) => d.allowed).length).toBe(3);
  });
});

describe('admission: monthly quotas', () => {
  it('refuses the N+1th request with 402 and a clear body', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'requests', limit: 25 });
    const a = h.admission();
    let admitted = 0;
    let refusal;
    for (let i = 0; i < 30; i++) {
      const d = await admitAndRelease(a, request(tenant.id, key.keyId));
      if (d.allowed) admitted++;
      else refusal ??= d;
    }
    expect(admitted).toBe(25);
    expect(refusal && !refusal.allowed && refusal.status).toBe(402);
    if (!refusal || refusal.allowed) return;
    expect(refusal.code).toBe('QUOTA_EXHAUSTED');
    expect(refusal.message).toMatch(/requests quota of 25/);
    expect(refusal.details).toMatchObject({ meter: 'requests', limit: 25, scope: 'tenant' });
    expect(new Date(String(refusal.details?.resetAt)).getTime()).toBeGreaterThan(Date.now());
    expect(refusal.headers['RateLimit-Remaining']).toBe('0');
  });

  it('counts items: a request that does not fit is refused, a smaller one still fits', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'items', limit: 12 });
    const a = h.admission();
    const r = async (items: number) => (await admitAndRelease(a, request(tenant.id, key.keyId, { items }))).allowed;
    expect([await r(5), await r(5), await r(5), await r(2), await r(1)]).toEqual([true, true, false, true, false]);
  });

  it('per-key quota overrides cap one key; the tenant quota still counts every key', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const other = await createApiKey({ tenantId: tenant.id });
    await override({ tenantId: tenant.id, apiKeyId: key.keyId, meter: 'requests', limit: 3 });
    await override({ tenantId: tenant.id, meter: 'requests', limit: 5 });
    const a = h.admission();
    const k1 = [];
    for (let i = 0; i < 4; i++) k1.push(await admitAndRelease(a, request(tenant.id, key.keyId)));
    expect(k1.map((d) => d.allowed)).toEqual([true, true, true, false]);
    const r = k1[3]!;
    expect(!r.allowed && r.details?.scope).toBe('api_key');
    const k2 = [];
    for (let i = 0; i < 3; i++) k2.push((await admitAndRelease(a, request(tenant.id, other.keyId))).allowed);
    expect(k2).toEqual([true, true, false]); // 3 + 2 = the tenant's 5
  });

  it('a retried event id does not consume quota twice, in one process or across two', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'requests', limit: 3 });
    const a = h.admission();
    const b = h.admission();
    const eventId = randomUUID();
    for (let i = 0; i < 4; i++) expect((await admitAndRelease(a, request(tenant.id, key.keyId, { eventId }))).allowed).toBe(true);
    await new Promise((r) => setTimeout(r, 50)); // the cross-process mark is written in the background
    expect((await admitAndRelease(b, request(tenant.id, key.keyId, { eventId }))).allowed).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    // b gives back its unspent lease (a replica does that after an idle interval or on shutdown).
    await Promise.all([a.flush(), b.close()]);
    // One unit used by the retried id: two distinct requests still fit, the third does not.
    const fresh = [];
    for (let i = 0; i < 3; i++) fresh.push((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed);
    expect(fresh).toEqual([true, true, false]);
  });

  it('failed requests give their quota back', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'requests', limit: 2 });
    const a = h.admission();
    for (let i = 0; i < 5; i++) expect((await admitAndRelease(a, request(tenant.id, key.keyId), { ok: false })).allowed).toBe(true);
    expect((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed).toBe(true);
    expect((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed).toBe(true);
    expect((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed).toBe(false);
  });

  it('charges compute on release and refuses once a hard compute quota is used', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'compute_ms_cpu', limit: 10 });
    const a = h.admission();
    const b = h.admission();
    expect((await admitAndRelease(a, request(tenant.id, key.keyId), { computeUs: 6_000 })).allowed).toBe(true);
    expect((await admitAndRelease(a, request(tenant.id, key.keyId), { computeUs: 4_500 })).allowed).toBe(true);
    await a.flush();
    const refused = await b.admit(request(tenant.id, key.keyId));
    expect(!refused.allowed && refused.status).toBe(402);
    expect(!refused.allowed && refused.details).toMatchObject({ meter: 'compute_ms_cpu', limit: 10, used: 10 });
    // The starter plan's CUDA minutes are separate: a CUDA-less plan still runs CPU models and vice versa.
    const cuda = await b.admit(request(tenant.id, key.keyId, { device: 'cuda' }));
    expect(cuda.allowed).toBe(true);
  });

  it('notifies each soft threshold once per period, across processes', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'pro' }); // pro: soft quotas, thresholds 80/100/150
    await override({ tenantId: tenant.id, meter: 'requests', limit: 10 });
    const seen: QuotaNotification[] = [];
    const notify = (n: QuotaNotification) => void seen.push(n);
    const a = h.admission({ notify });
    const b = h.admission({ notify });
    for (let i = 0; i < 12; i++) {
      const d = await admitAndRelease(i % 2 ? a : b, request(tenant.id, key.keyId));
      expect(d.allowed).toBe(true); // soft: never refused
      await (i % 2 ? a : b).flush();
    }
    await Promise.all([a.flush(), b.flush()]);
    await new Promise((r) => setTimeout(r, 50));
    await Promise.all([a.flush(), b.flush()]);
    const mine = seen.filter((n) => n.tenantId === tenant.id && n.meter === 'requests');
    expect(mine.map((n) => n.threshold).sort((x, y) => x - y)).toEqual([80, 100]);
    expect(mine[0]).toMatchObject({ limit: 10, hard: false });
    expect(mine.every((n) => n.periodEnd.getTime() > Date.now())).toBe(true);
  });
});
