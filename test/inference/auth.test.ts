/** Authentication with the real API-key authenticator (Postgres + Redis), per-tenant visibility, revocation. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createPgPools } from '../../src/db/index.js';
import { createApiKeyAuthenticator, revokeApiKey, type ApiKeyAuthenticator } from '../../src/keys/index.js';
import { createRedis } from '../../src/shared/index.js';
import { closeFactories, createTenant, createTenantWithKey, createApiKey, testActor } from '../factories.js';
import { get, infer, makeRepo, mlpRequest, prng, startServer, type Running } from './helpers.js';

const config = loadConfig();
const pools = createPgPools(config, { applicationName: 'tollgate-test-inference' });
const redis = createRedis(config);
let authenticator: ApiKeyAuthenticator;
let srv: Running;
let repo: ReturnType<typeof makeRepo>;
let a: Awaited<ReturnType<typeof createTenantWithKey>>;
let b: Awaited<ReturnType<typeof createTenantWithKey>>;

beforeAll(async () => {
  a = await createTenantWithKey();
  b = await createTenantWithKey();
  repo = makeRepo(['mlp-demo', { from: 'mlp-demo', as: 'private-a', config: { visibility: { tenant: a.tenant.id } } }]);
  authenticator = createApiKeyAuthenticator({ pools, redis, config: { ...config, API_KEY_CACHE_TTL_MS: 60_000 } });
  await authenticator.ready;
  srv = await startServer({ repo: repo.dir, authenticate: (s, o) => authenticator.authenticate(s, o) });
});

afterAll(async () => {
  await srv?.close();
  await authenticator?.close();
  await pools.close();
  redis.disconnect();
  await closeFactories();
  repo?.cleanup();
});

describe('API keys', () => {
  it('serves a tenant with a real key and records its tenant and key', async () => {
    const res = await infer(srv.base, 'mlp-demo', mlpRequest(prng(1), 1, 'auth-ok'), { key: a.key.secret });
    expect(res.status).toBe(200);
    expect(srv.sink.records.find((r) => r.eventId === 'auth-ok')).toMatchObject({ tenantId: a.tenant.id, apiKeyId: a.key.keyId });
  });

  it('refuses unknown secrets and keys of suspended tenants', async () => {
    expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(2), 1), { key: a.key.secret.slice(0, -2) + 'zz' })).status).toBe(401);
    const suspended = await createTenant({ status: 'suspended' });
    const key = await createApiKey({ tenantId: suspended.id });
    const res = await infer(srv.base, 'mlp-demo', mlpRequest(prng(3), 1), { key: key.secret });
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ error: expect.any(String) });
  });
});

describe('per-tenant visibility', () => {
  it('lets the owner use its private model', async () => {
    expect((await get(srv.base, '/v2/models/private-a', a.key.secret)).status).toBe(200);
    expect((await get(srv.base, '/v2/models/private-a/config', a.key.secret)).json).toMatchObject({ name: 'private-a', max_batch_size: 64 });
    expect((await infer(srv.base, 'private-a', mlpRequest(prng(4), 1), { key: a.key.secret })).status).toBe(200);
  });

  it('shows another tenant a private model exactly like a missing one', async () => {
    const shapes = await Promise.all([
      get(srv.base, '/v2/models/private-a', b.key.secret),
      get(srv.base, '/v2/models/private-a/ready', b.key.secret),
      get(srv.base, '/v2/models/private-a/versions/1', b.key.secret),
      get(srv.base, '/v2/models/private-a/config', b.key.secret),
      get(srv.base, '/v2/models/private-a/versions/1/config', b.key.secret),
      infer(srv.base, 'private-a', mlpRequest(prng(5), 1), { key: b.key.secret }),
    ]);
    const absent = await Promise.all([
      get(srv.base, '/v2/models/private-b', b.key.secret),
      get(srv.base, '/v2/models/private-b/ready', b.key.secret),
      get(srv.base, '/v2/models/private-b/versions/1', b.key.secret),
      get(srv.base, '/v2/models/private-b/config', b.key.secret),
      get(srv.base, '/v2/models/private-b/versions/1/config', b.key.secret),
      infer(srv.base, 'private-b', mlpRequest(prng(5), 1), { key: b.key.secret }),
    ]);
    shapes.forEach((res, i) => {
      expect(res.status).toBe(404);
      expect(absent[i]!.status).toBe(404);
      expect(res.json).toEqual({ error: expect.stringContaining('private-a') });
      expect(JSON.stringify(res.json).replace('private-a', 'private-b')).toBe(JSON.stringify(absent[i]!.json));
      expect([...res.headers.keys()].sort()).toEqual([...absent[i]!.headers.keys()].sort());
      expect(res.headers.get('content-type')).toBe('application/json');
    });
    expect(shapes[0]!.json).toEqual({ error: 'model "private-a" not found' });
  });
});

describe('revocation', () => {
  it('stops a revoked key within seconds, even though it was cached', async () => {
    const key = await createApiKey({ tenantId: a.tenant.id });
    expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(6), 1), { key: key.secret })).status).toBe(200);
    await revokeApiKey({ pools, redis, config }, { tenantId: a.tenant.id, keyId: key.keyId, actor: testActor });
    let status = 200;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      status = (await infer(srv.base, 'mlp-demo', mlpRequest(prng(7), 1), { key: key.secret })).status;
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(401);
    // The tenant's other key still works.
    expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(8), 1), { key: a.key.secret })).status).toBe(200);
  });
});
