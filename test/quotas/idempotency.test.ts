/**
 * Idempotency marks against the real per-run Redis: an event id is bound to the request it was
 * first used for (fingerprint), retries are served without charge, a reused id is refused with 409,
 * and a failed request leaves no mark — also when it fails before its batched mark was written.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { closeFactories, createTenantWithKey } from '../factories.js';
import { admitAndRelease, harness, override, request, sleep, testConfig } from './helpers.js';
import type { AdmissionService } from '../../src/quotas/index.js';
import { idempotencyKeys } from '../../src/idempotency/index.js';

const h = harness();
afterAll(async () => {
  await h.close();
  await closeFactories();
});

const keys = idempotencyKeys(testConfig().REDIS_PREFIX);
/** The fingerprint admission bound the id to, or null. */
const markOf = (tenantId: string, eventId: string) => h.redis.hget(keys.mark(tenantId, eventId), 'fp');

/** How many of `n` fresh requests `a` still admits (each released ok). */
async function freshAllowed(a: AdmissionService, tenantId: string, keyId: string, n: number): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push((await admitAndRelease(a, request(tenantId, keyId))).allowed);
  return out;
}

/** A tenant with a hard `requests` quota and a rate limit (so decisions carry RateLimit headers). */
async function tenantWithQuota(requests: number) {
  const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
  await override({ tenantId: tenant.id, meter: 'requests', limit: requests });
  return { tenantId: tenant.id, keyId: key.keyId };
}

describe('idempotency: request fingerprints', () => {
  it('refuses a reused id with a different fingerprint (409 CONFLICT, headers) in one process and across two; a same-fingerprint retry is served and not charged', async () => {
    const { tenantId, keyId } = await tenantWithQuota(3);
    const a = h.admission();
    const b = h.admission();
    const eventId = randomUUID();
    expect((await admitAndRelease(a, request(tenantId, keyId, { eventId, fingerprint: 'fp-A' }))).allowed).toBe(true);
    expect(await markOf(tenantId, eventId)).toBe('fp-A'); // set before admitting, not in the background

    for (const x of [a, b]) {
      const d = await x.admit(request(tenantId, keyId, { eventId, fingerprint: 'fp-B' }));
      expect(d.allowed).toBe(false);
      if (d.allowed) return;
      expect([d.status, d.code]).toEqual([409, 'CONFLICT']);
      expect(d.message).toBe(`request id "${eventId}" was already used for a different request`);
      expect(d.headers['RateLimit-Limit']).toBeDefined();
      expect(d.headers['RateLimit-Remaining']).toBeDefined();
    }
    for (const x of [a, b]) expect((await admitAndRelease(x, request(tenantId, keyId, { eventId, fingerprint: 'fp-A' }))).allowed).toBe(true);
    await Promise.all([a.flush(), b.close()]);
    // Only the first use was charged: two more fit, the third does not.
    expect(await freshAllowed(a, tenantId, keyId, 3)).toEqual([true, true, false]);
  });

  it('concurrent first uses of one id on two processes: same fingerprint -> both served, charged once; different -> exactly one served, the other 409', async () => {
    const { tenantId, keyId } = await tenantWithQuota(4);
    const a = h.admission();
    const b = h.admission();
    const same = randomUUID();
    const both = await Promise.all([a, b, a, b].map((x) => x.admit(request(tenantId, keyId, { eventId: same, fingerprint: 'fp-same' }))));
    expect(both.every((d) => d.allowed)).toBe(true);
    for (const d of both) if (d.allowed) d.ticket.release({ computeUs: 0, items: 1, ok: true });

    const reused = randomUUID();
    const race = await Promise.all([a, b].map((x, i) => x.admit(request(tenantId, keyId, { eventId: reused, fingerprint: `fp-${i}` }))));
    expect(race.filter((d) => d.allowed)).toHaveLength(1);
    expect(race.filter((d) => !d.allowed && d.status === 409)).toHaveLength(1);
    for (const d of race) if (d.allowed) d.ticket.release({ computeUs: 0, items: 1, ok: true });

    await Promise.all([a.flush(), b.close()]);
    // Two requests were charged (one per id): two of the 4 remain.
    expect(await freshAllowed(a, tenantId, keyId, 3)).toEqual([true, true, false]);
  });

  it('a failed fingerprinted request removes its mark: the retry, with any body, is charged as new', async () => {
    const { tenantId, keyId } = await tenantWithQuota(3);
    const a = h.admission();
    const eventId = randomUUID();
    const d = await admitAndRelease(a, request(tenantId, keyId, { eventId, fingerprint: 'fp-A' }), { ok: false });
    expect(d.allowed).toBe(true);
    await sleep(30);
    expect(await markOf(tenantId, eventId)).toBeNull();
    expect((await admitAndRelease(a, request(tenantId, keyId, { eventId, fingerprint: 'fp-B' }))).allowed).toBe(true);
    expect(await markOf(tenantId, eventId)).toBe('fp-B');
    await a.flush();
    expect(await freshAllowed(a, tenantId, keyId, 3)).toEqual([true, true, false]);
  });

  it('after the first request fails, a process that saw its id as a retry does not refuse the id reused for another body', async () => {
    const { tenantId, keyId } = await tenantWithQuota(5);
    const a = h.admission();
    const b = h.admission();
    const eventId = randomUUID();
    const first = await a.admit(request(tenantId, keyId, { eventId, fingerprint: 'fp-A' }));
    expect((await admitAndRelease(b, request(tenantId, keyId, { eventId, fingerprint: 'fp-A' }))).allowed).toBe(true); // a retry
    if (!first.allowed) throw new Error('refused');
    first.ticket.release({ computeUs: 0, items: 1, ok: false });
    await sleep(30);
    expect((await admitAndRelease(b, request(tenantId, keyId, { eventId, fingerprint: 'fp-B' }))).allowed).toBe(true);
  });

  it('a request refused for its quota (402) leaves no mark', async () => {
    const { tenantId, keyId } = await tenantWithQuota(1);
    const a = h.admission();
    expect((await admitAndRelease(a, request(tenantId, keyId))).allowed).toBe(true);
    const eventId = randomUUID();
    const d = await a.admit(request(tenantId, keyId, { eventId, fingerprint: 'fp-A' }));
    expect(!d.allowed && d.status).toBe(402);
    await sleep(30);
    expect(await markOf(tenantId, eventId)).toBeNull();
  });
});

describe('idempotency: batched background marks (requests without a fingerprint)', () => {
  it('a request failing before the batch flushes leaves no mark: its retry on another process is charged as new', async () => {
    const { tenantId, keyId } = await tenantWithQuota(2);
    const a = h.admission();
    const b = h.admission();
    const eventId = randomUUID();
    const d = await a.admit(request(tenantId, keyId, { eventId }));
    expect(d.allowed).toBe(true);
    if (!d.allowed) return;
    d.ticket.release({ computeUs: 0, items: 1, ok: false }); // well within the 10 ms batch window
    await sleep(50); // the batch would have been written by now
    expect(await markOf(tenantId, eventId)).toBeNull();
    // The retry is a new request for b: charged (1 of 2), so one more fits and then none.
    expect((await admitAndRelease(b, request(tenantId, keyId, { eventId }))).allowed).toBe(true);
    await Promise.all([a.close(), b.close()]);
    const c = h.admission();
    expect(await freshAllowed(c, tenantId, keyId, 2)).toEqual([true, false]);
  });

  it('a request failing while its mark is in flight: the mark is deleted after it lands', async () => {
    const { tenantId, keyId } = await tenantWithQuota(5);
    const a = h.admission();
    const eventId = randomUUID();
    const d = await a.admit(request(tenantId, keyId, { eventId }));
    if (!d.allowed) throw new Error('refused');
    void a.flush(); // sends the pending marks now
    d.ticket.release({ computeUs: 0, items: 1, ok: false });
    await sleep(50);
    expect(await markOf(tenantId, eventId)).toBeNull();
  });

  it("a failing retry of an id another process charged is refunded once and does not delete the other's mark", async () => {
    const { tenantId, keyId } = await tenantWithQuota(3);
    const a = h.admission();
    const b = h.admission();
    const eventId = randomUUID();
    expect((await admitAndRelease(b, request(tenantId, keyId, { eventId }))).allowed).toBe(true);
    await b.flush(); // b's mark is written
    await sleep(20);
    expect(await markOf(tenantId, eventId)).toBe('1');
    // a does not know the id: it charges, sends the mark, and the request fails before the answer.
    const d = await a.admit(request(tenantId, keyId, { eventId }));
    if (!d.allowed) throw new Error('refused');
    void a.flush();
    d.ticket.release({ computeUs: 0, items: 1, ok: false });
    await sleep(50);
    expect(await markOf(tenantId, eventId)).toBe('1'); // b's request still owns the id
    await Promise.all([a.close(), b.close()]);
    // Exactly b's request is charged: two of 3 remain (refunded once).
    const c = h.admission();
    expect(await freshAllowed(c, tenantId, keyId, 3)).toEqual([true, true, false]);
  });
});
