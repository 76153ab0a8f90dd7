/**
 * Simultaneous requests inside the burst, end to end (issue 13): the real inference HTTP server
 * with real admission (Redis, Postgres) and real API keys, as a client with a worker pool sees
 * it. Every burst the plan allows gets 200; past the bucket, the 429s say RateLimit-Remaining: 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createApiKeyAuthenticator, type ApiKeyAuthenticator } from '../../src/keys/index.js';
import { createAdmission, type AdmissionService } from '../../src/quotas/index.js';
import { createRedis, type Redis } from '../../src/shared/index.js';
import { closeFactories, createTenantWithKey, factoryDeps } from '../factories.js';
import { infer, makeRepo, mlpRequest, prng, startServer, type Reply, type Running } from '../inference/helpers.js';
import { override, planBounds, testConfig } from './helpers.js';

const repo = makeRepo(['mlp-demo']);
let redis: Redis;
let admission: AdmissionService;
let authenticator: ApiKeyAuthenticator;
let srv: Running;

beforeAll(async () => {
  const config = testConfig();
  const logger = pino({ level: 'silent' });
  redis = createRedis(config);
  admission = createAdmission({ config, redis, pools: factoryDeps().pools, logger });
  authenticator = createApiKeyAuthenticator({ pools: factoryDeps().pools, redis, config, log: logger });
  srv = await startServer({ repo: repo.dir, authenticate: (s, o) => authenticator.authenticate(s, o), admission });
}, 60_000);

afterAll(async () => {
  await srv?.close();
  await admission?.close();
  await authenticator?.close();
  redis?.disconnect();
  repo.cleanup();
  await closeFactories();
});

const burst = (secret: string, n: number, seed: number): Promise<Reply[]> =>
  Promise.all(Array.from({ length: n }, (_, i) => infer(srv.base, 'mlp-demo', mlpRequest(prng(seed + i), 1), { key: secret })));

describe('simultaneous inference requests through the HTTP server', () => {
  it('starter: N simultaneous requests on a fresh tenant all get 200, for every N up to min(burst, concurrency)', async () => {
    const { burst: size, max } = await planBounds('starter');
    for (let n = 1; n <= max; n++) {
      const { key } = await createTenantWithKey({ plan: 'starter' });
      const replies = await burst(key.secret, n, n * 100);
      expect({ n, statuses: replies.map((r) => r.status) }).toEqual({ n, statuses: Array(n).fill(200) });
      for (const r of replies) {
        expect(r.headers.get('ratelimit-limit')).toBe(String(size));
        expect(Number(r.headers.get('ratelimit-remaining'))).toBeLessThan(size);
      }
    }
  });

  it('past the bucket: 429s only beyond it, each saying RateLimit-Remaining: 0 and Retry-After', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'rate', limit: 1 });
    await override({ tenantId: tenant.id, meter: 'burst', limit: 6 });
    const started = Date.now();
    const replies = await burst(key.secret, 8, 7); // 8 = starter's concurrency: only the rate refuses
    const refill = Math.floor((Date.now() - started) / 1000); // one token a second
    const ok = replies.filter((r) => r.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(6);
    expect(ok).toBeLessThanOrEqual(6 + refill + 1);
    for (const r of replies.filter((x) => x.status !== 200)) {
      expect(r.status).toBe(429);
      expect(r.json.error).toMatch(/request rate limit exceeded \(1\/s, burst 6\)/);
      expect(r.headers.get('ratelimit-remaining')).toBe('0');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  });
});
