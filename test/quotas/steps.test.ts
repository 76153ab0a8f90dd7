/**
 * Admission's steps one by one (admission-steps.ts), against the real per-run Redis and Postgres:
 * each records what it took in the request's Holdings, and giveBack returns exactly that.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createLogger, createRedis } from '../../src/shared/index.js';
import { createAdmissionParts, type AdmissionParts } from '../../src/quotas/admission-parts.js';
import { chargeQuotas, checkId, limitsOf, scopesOf, takeSlots, takeTokens } from '../../src/quotas/admission-steps.js';
import { giveBack, Holdings } from '../../src/quotas/holdings.js';
import type { EffectiveLimits } from '../../src/quotas/index.js';
import { closeFactories, createTenantWithKey, factoryDeps } from '../factories.js';
import { override, request, testConfig } from './helpers.js';

const config = testConfig();
const redis = createRedis(config);
const made: AdmissionParts[] = [];
function parts(): AdmissionParts {
  const p = createAdmissionParts({ config, redis, pools: factoryDeps().pools, logger: createLogger({ level: 'silent' }) });
  made.push(p);
  return p;
}
afterAll(async () => {
  await Promise.all(made.map((p) => p.close()));
  redis.disconnect();
  await closeFactories();
});

async function tenant(overrides: Array<{ meter: 'concurrency' | 'requests'; limit: number }>) {
  const { tenant: t, key } = await createTenantWithKey({ plan: 'starter' });
  for (const o of overrides) await override({ tenantId: t.id, ...o });
  return { tenantId: t.id, keyId: key.keyId };
}

async function limits(p: AdmissionParts, tenantId: string, keyId: string): Promise<EffectiveLimits> {
  const l = await limitsOf(p, request(tenantId, keyId));
  if (!('tenant' in l)) throw new Error('no limits');
  return l;
}

describe('admission steps', () => {
  it('limitsOf refuses a tenant without a plan with 402', async () => {
    const d = await limitsOf(parts(), request(randomUUID(), randomUUID()));
    expect(d).toMatchObject({ allowed: false, status: 402, details: { reason: 'no_plan' } });
  });

  it('takeTokens and takeSlots record what they took; giveBack returns a slot another request then gets', async () => {
    const { tenantId, keyId } = await tenant([{ meter: 'concurrency', limit: 1 }]);
    const p = parts();
    const req = request(tenantId, keyId);
    const scopes = scopesOf(req, await limits(p, tenantId, keyId));
    const h1 = new Holdings(0);
    const rate = await takeTokens(p, scopes, h1);
    expect('headers' in rate && rate.headers['RateLimit-Limit']).toBeTruthy();
    expect(h1.tokens).toHaveLength(1);
    expect(await takeSlots(p, scopes, h1)).toBeUndefined();
    expect(h1.slots).toEqual([scopes[0]!.id]);
    const h2 = new Holdings(0);
    expect(await takeSlots(p, scopes, h2)).toBe(scopes[0]); // at the cap
    giveBack(p, h1, req);
    expect(h1.slots).toEqual([]);
    expect(h1.tokens).toEqual([]);
    expect(await takeSlots(p, scopes, new Holdings(0))).toBeUndefined();
  });

  it('checkId: a client id is owned by its first request, a retry is a duplicate, other content a 409', async () => {
    const { tenantId, keyId } = await tenant([]);
    const [a, b] = [parts(), parts()];
    const eventId = randomUUID();
    const first = new Holdings(0);
    expect(await checkId(a, request(tenantId, keyId, { eventId, fingerprint: 'fp-1' }), Date.now(), first, {})).toEqual({ duplicate: false });
    expect(first.ownsMark).toBe(true);
    const retry = new Holdings(0);
    expect(await checkId(b, request(tenantId, keyId, { eventId, fingerprint: 'fp-1' }), Date.now(), retry, {})).toEqual({ duplicate: true });
    expect(retry.ownsMark).toBe(false);
    expect(await checkId(b, request(tenantId, keyId, { eventId, fingerprint: 'fp-2' }), Date.now(), new Holdings(0), { 'RateLimit-Limit': '5' })).toMatchObject({
      allowed: false,
      status: 409,
      headers: { 'RateLimit-Limit': '5' },
    });
    // A refused request that owned the mark gives the id back.
    giveBack(a, first, request(tenantId, keyId, { eventId }));
    await new Promise((r) => setTimeout(r, 30));
    expect(await checkId(b, request(tenantId, keyId, { eventId, fingerprint: 'fp-3' }), Date.now(), new Holdings(0), {})).toEqual({ duplicate: false });
  });

  it('chargeQuotas charges a new request and not a duplicate, and names the quota that is used up', async () => {
    const { tenantId, keyId } = await tenant([{ meter: 'requests', limit: 1 }]);
    const p = parts();
    const req = request(tenantId, keyId);
    const l = await limits(p, tenantId, keyId);
    const scopes = scopesOf(req, l);
    const dup = new Holdings(0);
    expect(await chargeQuotas(p, req, l, scopes, { now: Date.now(), duplicate: true }, dup)).toBeUndefined();
    expect(dup.charges).toEqual([]);
    const h = new Holdings(Math.floor(Date.now() / 60_000));
    expect(await chargeQuotas(p, req, l, scopes, { now: Date.now(), duplicate: false }, h)).toBeUndefined();
    expect(h.charges.map((c) => [c.counter.spec.meter, c.units])).toEqual([
      ['requests', 1],
      ['items', 1],
    ]);
    const short = await chargeQuotas(p, request(tenantId, keyId), l, scopes, { now: Date.now(), duplicate: false }, new Holdings(h.minute));
    expect(short?.counter.spec.meter).toBe('requests');
    giveBack(p, h, req); // refunded: the unit is there again
    expect(await chargeQuotas(p, request(tenantId, keyId), l, scopes, { now: Date.now(), duplicate: false }, new Holdings(h.minute))).toBeUndefined();
  });
});
