/**
 * Token buckets with an injected clock (against real Redis), period resets in the tenant's
 * time zone, plan changes taking effect at once (and audited), Redis down in both modes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createLogger, createRedis } from '../../src/shared/index.js';
import { setTenantPlan } from '../../src/tenants/index.js';
import { TokenBucket, type EffectiveLimits } from '../../src/quotas/index.js';
import { redisLimitsAnnouncer } from '../../src/plans/index.js';
import { RateLimiter } from '../../src/quotas/rate-limiter.js';
import { RedisGuard } from '../../src/quotas/redis-guard.js';
import { runCli } from '../../app/cli/program.js';
import { closeFactories, createTenantWithKey, factoryDeps, testActor } from '../factories.js';
import { admitAndRelease, captureLogger, harness, override, request, sleep, startTcpProxy, testConfig } from './helpers.js';

const h = harness();
afterAll(async () => {
  await h.close();
  await closeFactories();
});

describe('TokenBucket', () => {
  it('starts full, refills continuously, caps at the burst', () => {
    const b = new TokenBucket(2, 4, 0);
    expect([1, 2, 3, 4, 5].map(() => b.take(1, 0))).toEqual([true, true, true, true, false]);
    expect(b.msUntil(1, 0)).toBe(500);
    expect(b.take(1, 499)).toBe(false);
    expect(b.take(1, 500)).toBe(true);
    expect(b.available(1_000_000)).toBe(4);
    expect(b.take(5, 1_000_000)).toBe(false);
  });
});

describe('RateLimiter (shared bucket in Redis, injected clock)', () => {
  function limiter(clock: () => number) {
    const guard = new RedisGuard(h.redis, { timeoutMs: 1000, retryAfterMs: 1000, warnIntervalMs: 60_000, logger: createLogger({ level: 'silent' }), clock, failureMode: 'closed' });
    let calls = 0;
    const run = guard.run.bind(guard);
    guard.run = (what, fn) => {
      calls++;
      return run(what, fn);
    };
    const key = (scope: string) => `${testConfig().REDIS_PREFIX}:test-rl:${scope}`;
    return { rl: new RateLimiter({ guard, key, clock }), calls: () => calls };
  }
  const take = async (rl: RateLimiter, scope: string, rps: number, burst: number) => (await rl.check(scope, rps, burst)).ok;

  it('admits exactly the burst, then one token per 1/rps; refuses locally until the next token is due', async () => {
    let now = 1_000_000;
    const { rl, calls } = limiter(() => now);
    const scope = randomUUID();
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await take(rl, scope, 1, 5));
    expect(got).toEqual([true, true, true, true, true, false]);
    const refused = await rl.check(scope, 1, 5);
    expect(refused.retryAfterSeconds).toBe(1);
    const before = calls();
    now += 999;
    expect(await take(rl, scope, 1, 5)).toBe(false);
    expect(calls()).toBe(before); // refused without a round trip
    now += 1;
    expect(await take(rl, scope, 1, 5)).toBe(true);
    expect(await take(rl, scope, 1, 5)).toBe(false);
    now += 3_600_000; // a long idle period refills to the burst, not beyond
    const after = [];
    for (let i = 0; i < 7; i++) after.push(await take(rl, scope, 1, 5));
    expect(after.filter(Boolean)).toHaveLength(5);
  });

  it('two processes sharing a bucket never admit more than burst + rps × t together', async () => {
    let now = 5_000_000;
    const clock = () => now;
    const a = limiter(clock);
    const b = limiter(clock);
    const scope = randomUUID();
    const rps = 200;
    const burst = 50;
    let admitted = 0;
    const start = now;
    for (let step = 0; step < 300; step++) {
      const results = await Promise.all([a.rl.check(scope, rps, burst), b.rl.check(scope, rps, burst), a.rl.check(scope, rps, burst), b.rl.check(scope, rps, burst)]);
      admitted += results.filter((r) => r.ok).length;
      now += 3;
      await sleep(0);
    }
    const bound = burst + (rps * (now - start)) / 1000;
    expect(admitted).toBeLessThanOrEqual(bound);
    // Leases strand at most one lease per process: under-admission is bounded too.
    expect(admitted).toBeGreaterThanOrEqual(bound - 2 * RateLimiter.leaseSize(rps, burst) - 2 * (rps * 3) / 1000);
  });
});

function fakeLimits(over: Partial<EffectiveLimits> & { tenantId: string }): EffectiveLimits {
  return {
    apiKeyId: undefined,
    planId: randomUUID(),
    planCode: 'test',
    priorityTier: 1,
    timeZone: 'UTC',
    billingAnchorDay: 1,
    tenant: { rate: null, concurrency: null, quotas: [{ meter: 'requests', limit: 2, hard: true, softThresholds: [] }] },
    key: null,
    ...over,
  };
}

describe('billing period boundaries', () => {
  it('resets the quota at the period start in the tenant time zone (anchor 31 in February)', async () => {
    const tenantId = randomUUID();
    let now = Date.parse('2027-02-28T04:59:58Z'); // 23:59:58 on Feb 27 in New York
    const limits = fakeLimits({ tenantId, timeZone: 'America/New_York', billingAnchorDay: 31 });
    const a = h.admission({ clock: () => now, loadLimits: async () => limits });
    const r = () => admitAndRelease(a, request(tenantId, randomUUID()));
    expect((await r()).allowed).toBe(true);
    expect((await r()).allowed).toBe(true);
    const refused = await r();
    expect(!refused.allowed && refused.details?.resetAt).toBe('2027-02-28T05:00:00.000Z'); // Feb 28 is February's last day
    now = Date.parse('2027-02-28T04:59:59.999Z');
    expect((await r()).allowed).toBe(false);
    now = Date.parse('2027-02-28T05:00:00Z');
    expect((await r()).allowed).toBe(true);
    expect((await r()).allowed).toBe(true);
    const next = await r();
    expect(!next.allowed && next.details?.resetAt).toBe('2027-03-31T04:00:00.000Z'); // after the DST change
  });
});

describe('plan changes', () => {
  it('take effect at once in every process and are audited', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'free' });
    const a = h.admission();
    const b = h.admission();
    const before = await admitAndRelease(a, request(tenant.id, key.keyId));
    expect(before.allowed && before.weight).toBe(1);
    expect(before.headers['RateLimit-Limit']).toBe('10'); // free: burst 10
    await admitAndRelease(b, request(tenant.id, key.keyId)); // b has the free plan cached too
    // The write announces the change itself (on the real limits channel): no separate publish.
    const announceLimits = redisLimitsAnnouncer({ redis: h.redis, config: testConfig(), onFailure: (err) => { throw err; } });
    await setTenantPlan({ pools: factoryDeps().pools, announceLimits }, { tenantId: tenant.id, plan: 'pro', actor: testActor });
    for (const x of [a, b]) {
      let d = await admitAndRelease(x, request(tenant.id, key.keyId));
      for (let i = 0; i < 50 && d.allowed && d.weight !== 3; i++) {
        await sleep(10); // pub/sub delivery
        d = await admitAndRelease(x, request(tenant.id, key.keyId));
      }
      expect(d.allowed && d.weight).toBe(3);
      expect(d.headers['RateLimit-Limit']).toBe('200'); // pro: burst 200
    }
    const { rows } = await factoryDeps().pools.owner.query("SELECT before, after FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.plan_change'", [tenant.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].before.plan).toBe('free');
    expect(rows[0].after.plan).toBe('pro');
  });
});

describe('plan changes from the CLI', () => {
  it('`tenant set-plan` announces the change: a process with the old plan cached sees the new one at once', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'free' });
    const a = h.admission(); // limits cache TTL 5 s: only the announcement can explain a change within 0.5 s
    const before = await admitAndRelease(a, request(tenant.id, key.keyId));
    expect(before.allowed && before.weight).toBe(1);
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['node', 'tollgate', 'tenant', 'set-plan', '--tenant', tenant.id, '--plan', 'pro', '--json'], { out: (t) => out.push(t), err: (t) => err.push(t), env: process.env });
    expect([code, err]).toEqual([0, []]);
    let d = await admitAndRelease(a, request(tenant.id, key.keyId));
    for (let i = 0; i < 50 && d.allowed && d.weight !== 3; i++) {
      await sleep(10); // pub/sub delivery
      d = await admitAndRelease(a, request(tenant.id, key.keyId));
    }
    expect(d.allowed && d.weight).toBe(3);
  });
});

describe('Redis unreachable', () => {
  it('fail-open admits with a warning logged once per interval; fail-closed answers 503', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const dead = createRedis({ REDIS_URL: 'redis://127.0.0.1:1/0' }, { maxRetriesPerRequest: 1 });
    dead.on('error', () => {});
    try {
      const open = captureLogger();
      const a = h.admission({ redis: dead, logger: open.logger, env: { QUOTA_REDIS_FAILURE_MODE: 'open' } });
      for (let i = 0; i < 5; i++) {
        const d = await admitAndRelease(a, request(tenant.id, key.keyId));
        expect(d.allowed).toBe(true);
      }
      const warnings = open.lines.filter((l) => String(l.msg).includes('Redis unreachable'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.failureMode).toBe('open');

      const closed = captureLogger();
      const c = h.admission({ redis: dead, logger: closed.logger, env: { QUOTA_REDIS_FAILURE_MODE: 'closed' } });
      const d = await c.admit(request(tenant.id, key.keyId));
      expect(d.allowed).toBe(false);
      expect(!d.allowed && [d.status, d.code]).toEqual([503, 'UNAVAILABLE']);
      expect(closed.lines.some((l) => String(l.msg).includes('refusing requests with 503'))).toBe(true);
      await Promise.all([a.close(), c.close()]);
    } finally {
      dead.disconnect();
    }
  });

  it('when the connection is cut: open keeps local accounting and pushes it once Redis is back; the hard limit still holds locally', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'requests', limit: 40 });
    const proxy = await startTcpProxy(new URL(testConfig().REDIS_URL));
    const redis = createRedis({ REDIS_URL: proxy.url });
    redis.on('error', () => {});
    try {
      const a = h.admission({ redis, env: { QUOTA_REDIS_FAILURE_MODE: 'open' } });
      let admitted = 0;
      for (let i = 0; i < 10; i++) if ((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed) admitted++;
      await a.flush();
      proxy.setMode('down');
      await sleep(50);
      for (let i = 0; i < 50; i++) if ((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed) admitted++;
      expect(admitted).toBe(40); // known counter: the local view refuses past the limit
      proxy.setMode('pass');
      for (let i = 0; i < 100 && redis.status !== 'ready'; i++) await sleep(50);
      await sleep(1100); // the guard retries Redis a second after a failure
      await a.flush();
      const totals = await h.redis.keys(`${testConfig().REDIS_PREFIX}:quota:q:t:${tenant.id}:requests:*`);
      expect(totals).toHaveLength(1);
      expect(Number(await h.redis.hget(totals[0]!, 'total'))).toBe(40);
      expect((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed).toBe(false);
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  });

  it('when the connection is cut: closed refuses with 503 once its leases are spent, and recovers', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const proxy = await startTcpProxy(new URL(testConfig().REDIS_URL));
    const redis = createRedis({ REDIS_URL: proxy.url });
    redis.on('error', () => {});
    try {
      const a = h.admission({ redis, env: { QUOTA_REDIS_FAILURE_MODE: 'closed' } });
      expect((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed).toBe(true);
      proxy.setMode('down');
      await sleep(50);
      let refusal;
      for (let i = 0; i < 50 && !refusal; i++) {
        const d = await admitAndRelease(a, request(tenant.id, key.keyId));
        if (!d.allowed) refusal = d;
      }
      expect(refusal && !refusal.allowed && refusal.status).toBe(503);
      proxy.setMode('pass');
      for (let i = 0; i < 100 && redis.status !== 'ready'; i++) await sleep(50);
      await sleep(1100);
      expect((await admitAndRelease(a, request(tenant.id, key.keyId))).allowed).toBe(true);
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  });
});
