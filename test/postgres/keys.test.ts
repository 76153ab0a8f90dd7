import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRedis, type Redis } from '../../src/shared/index.js';
import { createApiKey as createKeyRow, createApiKeyAuthenticator, listApiKeys, revokeApiKey, getApiKey, type ApiKeyAuthenticator } from '../../src/keys/index.js';
import { setTenantStatus } from '../../src/tenants/index.js';
import { closeFactories, createApiKey, createTenant, createTenantWithKey, factoryDeps, testActor } from '../factories.js';

const { pools, config } = factoryDeps();
let redis: Redis;
const authenticators: ApiKeyAuthenticator[] = [];

/** A replica's authenticator. The TTL is long so only the Redis message (not expiry) can evict. */
async function replica(overrides: { ttlMs?: number; negativeTtlMs?: number; redis?: Redis | null } = {}) {
  const a = createApiKeyAuthenticator({
    pools,
    redis: overrides.redis === undefined ? redis : overrides.redis,
    config: { ...config, API_KEY_CACHE_TTL_MS: overrides.ttlMs ?? 600_000 },
    negativeTtlMs: overrides.negativeTtlMs,
  });
  authenticators.push(a);
  await a.ready;
  return a;
}

beforeAll(() => {
  redis = createRedis(config);
});

afterAll(async () => {
  await Promise.all(authenticators.map((a) => a.close()));
  await redis.quit();
  await closeFactories();
});

describe('API keys', () => {
  it('creates a key whose secret is shown once and never stored', async () => {
    const t = await createTenant();
    const k = await createApiKey({ tenantId: t.id, role: 'finance' });
    expect(k.secret).toMatch(/^tg_[A-Za-z0-9_-]{43}$/);
    expect(k.prefix).toBe(k.secret.slice(3, 11));
    const { rows } = await pools.owner.query('SELECT * FROM api_keys WHERE id = $1', [k.keyId]);
    expect(rows[0].hash).toBe(createHash('sha256').update(k.secret).digest('hex'));
    expect(rows[0].role).toBe('finance');
    // Neither the key row nor the audit trail contains the secret.
    const audit = await pools.owner.query("SELECT before, after FROM audit_log WHERE target_type = 'api_key' AND target_id = $1", [k.keyId]);
    expect(audit.rows).toHaveLength(1);
    expect(JSON.stringify([rows, audit.rows])).not.toContain(k.secret.slice(3));
    const listed = await listApiKeys({ pools }, { tenantId: t.id });
    expect(listed.map((x) => x.id)).toEqual([k.keyId]);
    expect(Object.keys(listed[0]!)).not.toContain('hash');
  });

  it('authenticates a valid secret to its tenant and role; rejects unknown and malformed ones', async () => {
    const t = await createTenant();
    const k = await createApiKey({ tenantId: t.id, role: 'admin' });
    const auth = await replica();
    expect(await auth.authenticate(k.secret)).toEqual({ keyId: k.keyId, tenantId: t.id, role: 'admin', tenantStatus: 'active' });
    expect(await auth.authenticate(k.secret.slice(0, -1) + (k.secret.endsWith('A') ? 'B' : 'A'))).toBeNull();
    expect(await auth.authenticate('')).toBeNull();
    expect(await auth.authenticate('Bearer ' + k.secret)).toBeNull();
    expect(await auth.authenticate("tg_' OR 1=1 --")).toBeNull();
  });

  it('reports a suspended tenant and refuses expired keys', async () => {
    const t = await createTenant({ status: 'suspended' });
    const k = await createApiKey({ tenantId: t.id });
    const expired = await createApiKey({ tenantId: t.id, expiresAt: new Date(Date.now() + 3_600_000) });
    await pools.owner.query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", [expired.keyId]);
    const auth = await replica();
    expect(await auth.authenticate(k.secret)).toMatchObject({ tenantId: t.id, tenantStatus: 'suspended' });
    expect(await auth.authenticate(expired.secret)).toBeNull();
  });

  it('serves repeat lookups from the cache (positive and negative) until evicted', async () => {
    const t = await createTenant();
    const k = await createApiKey({ tenantId: t.id });
    const auth = await replica({ negativeTtlMs: 600_000 });
    expect(await auth.authenticate(k.secret)).not.toBeNull();
    // Delete behind the cache's back (no revocation message): the cached principal still answers.
    await pools.owner.query('DELETE FROM api_keys WHERE id = $1', [k.keyId]);
    expect(await auth.authenticate(k.secret)).toMatchObject({ keyId: k.keyId });
    auth.evict(k.keyId);
    expect(await auth.authenticate(k.secret)).toBeNull();
    // Negative cache: once a secret is unknown, it stays unknown for the negative TTL even if it appears later.
    const k2 = await createApiKey({ tenantId: t.id });
    await pools.owner.query('UPDATE api_keys SET hash = $2 WHERE id = $1', [k2.keyId, createHash('sha256').update('tg_' + 'x'.repeat(43)).digest('hex')]);
    expect(await auth.authenticate('tg_' + 'x'.repeat(43))).not.toBeNull();
    const unknown = 'tg_' + 'y'.repeat(43);
    expect(await auth.authenticate(unknown)).toBeNull();
    await pools.owner.query('UPDATE api_keys SET hash = $2 WHERE id = $1', [k2.keyId, createHash('sha256').update(unknown).digest('hex')]);
    expect(await auth.authenticate(unknown)).toBeNull();
    // A replica without a negative cache sees it at once.
    expect(await (await replica({ negativeTtlMs: 0 })).authenticate(unknown)).toMatchObject({ keyId: k2.keyId });
  });

  it('a TTL of zero disables caching', async () => {
    const t = await createTenant();
    const k = await createApiKey({ tenantId: t.id });
    const auth = await replica({ ttlMs: 0, redis: null });
    expect(await auth.authenticate(k.secret)).not.toBeNull();
    await pools.owner.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [k.keyId]);
    expect(await auth.authenticate(k.secret)).toBeNull();
  });

  it('revocation reaches another replica’s cache within seconds via Redis (not via TTL)', async () => {
    const t = await createTenant();
    const k = await createApiKey({ tenantId: t.id });
    const keep = await createApiKey({ tenantId: t.id });
    const replicaA = await replica();
    const replicaB = await replica();
    for (const r of [replicaA, replicaB]) {
      expect(await r.authenticate(k.secret)).not.toBeNull();
      expect(await r.authenticate(keep.secret)).not.toBeNull();
    }
    const revoked = await revokeApiKey({ pools, redis, config }, { tenantId: t.id, keyId: k.keyId, actor: testActor });
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    await vi.waitFor(async () => expect(await replicaB.authenticate(k.secret)).toBeNull(), { timeout: 5_000, interval: 50 });
    await vi.waitFor(async () => expect(await replicaA.authenticate(k.secret)).toBeNull(), { timeout: 5_000, interval: 50 });
    // Only the revoked key is affected.
    expect(await replicaB.authenticate(keep.secret)).toMatchObject({ keyId: keep.keyId });
    // Revoking again is a no-op; the audit log has exactly one revoke with before/after.
    await revokeApiKey({ pools, redis, config }, { tenantId: t.id, keyId: k.keyId, actor: testActor });
    const { rows } = await pools.owner.query("SELECT before, after FROM audit_log WHERE action = 'api_key.revoke' AND target_id = $1", [k.keyId]);
    expect(rows).toHaveLength(1);
    expect(rows[0].before.revokedAt).toBeNull();
    expect(rows[0].after.revokedAt).not.toBeNull();
  });

  it('suspending a tenant reaches every replica’s cached keys via Redis', async () => {
    const t = await createTenant();
    const k = await createApiKey({ tenantId: t.id });
    const other = await createTenantWithKey();
    const r1 = await replica();
    const r2 = await replica();
    for (const r of [r1, r2]) {
      expect(await r.authenticate(k.secret)).toMatchObject({ tenantStatus: 'active' });
      expect(await r.authenticate(other.key.secret)).toMatchObject({ tenantStatus: 'active' });
    }
    await setTenantStatus({ pools, redis, config }, { tenantId: t.id, status: 'suspended', actor: testActor });
    for (const r of [r1, r2]) {
      await vi.waitFor(async () => expect(await r.authenticate(k.secret)).toMatchObject({ tenantStatus: 'suspended' }), { timeout: 5_000, interval: 50 });
    }
    const spy = vi.spyOn(pools.app, 'query');
    try {
      // The other tenant's key is still served from cache.
      expect(await r2.authenticate(other.key.secret)).toMatchObject({ tenantId: other.tenant.id, tenantStatus: 'active' });
      expect(spy.mock.calls.filter((c) => String(c[0]).includes('auth_api_key'))).toHaveLength(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('a key of another tenant reads as not found and cannot be revoked', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const k = await createApiKey({ tenantId: a.id });
    await expect(revokeApiKey({ pools, redis, config }, { tenantId: b.id, keyId: k.keyId, actor: testActor })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await getApiKey({ pools }, { tenantId: b.id, keyId: k.keyId })).toBeNull();
    expect(await listApiKeys({ pools }, { tenantId: b.id })).toEqual([]);
    expect((await getApiKey({ pools }, { tenantId: a.id, keyId: k.keyId }))?.revokedAt).toBeNull();
  });

  it('records last_used_at off the request path', async () => {
    const t = await createTenant();
    const k = await createApiKey({ tenantId: t.id });
    const auth = await replica();
    await auth.authenticate(k.secret);
    await vi.waitFor(async () => expect((await getApiKey({ pools }, { tenantId: t.id, keyId: k.keyId }))?.lastUsedAt).toBeInstanceOf(Date), { timeout: 5_000, interval: 50 });
  });

  it('concurrent lookups of one secret share one query and agree', async () => {
    const t = await createTenant();
    const k = await createApiKey({ tenantId: t.id });
    const auth = await replica();
    const spy = vi.spyOn(pools.app, 'query');
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(k.secret)));
      expect(new Set(results.map((r) => r?.keyId))).toEqual(new Set([k.keyId]));
      const lookups = spy.mock.calls.filter((c) => String(c[0]).includes('auth_api_key'));
      expect(lookups).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('live API keys per tenant (API_KEYS_MAX_PER_TENANT)', () => {
  const limited = (limit: number) => ({ pools, config: { ...config, API_KEYS_MAX_PER_TENANT: limit } });

  it('refuses one key past the limit with a CONFLICT naming it, and concurrent creates cannot overshoot', async () => {
    const t = await createTenant();
    const other = await createTenant();
    // 12 creates race for 5 places: the count and the insert are one step per tenant.
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => createKeyRow(limited(5), { tenantId: t.id, name: `k${i}`, actor: testActor })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as { code: string; status: number; message: string }] : []));
    expect(ok).toHaveLength(5);
    expect(refused).toHaveLength(7);
    for (const err of refused) {
      expect(err).toMatchObject({ code: 'CONFLICT', status: 409 });
      expect(err.message).toContain('API_KEYS_MAX_PER_TENANT=5');
    }
    expect(await listApiKeys({ pools }, { tenantId: t.id })).toHaveLength(5);
    // Another tenant's room is its own.
    await expect(createKeyRow(limited(5), { tenantId: other.id, actor: testActor })).resolves.toMatchObject({ key: { tenantId: other.id } });
  });

  it('revoked and expired keys do not count', async () => {
    const t = await createTenant();
    const a = await createKeyRow(limited(2), { tenantId: t.id, actor: testActor });
    const b = await createKeyRow(limited(2), { tenantId: t.id, actor: testActor });
    await expect(createKeyRow(limited(2), { tenantId: t.id, actor: testActor })).rejects.toMatchObject({ code: 'CONFLICT' });
    await revokeApiKey({ pools, redis, config }, { tenantId: t.id, keyId: a.keyId, actor: testActor });
    const c = await createKeyRow(limited(2), { tenantId: t.id, actor: testActor });
    await expect(createKeyRow(limited(2), { tenantId: t.id, actor: testActor })).rejects.toMatchObject({ code: 'CONFLICT' });
    // An expired key is no credential: push b's expiry into the past (the API refuses past dates).
    await pools.owner.query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", [b.keyId]);
    await expect(createKeyRow(limited(2), { tenantId: t.id, actor: testActor })).resolves.toBeTruthy();
    expect((await listApiKeys({ pools }, { tenantId: t.id, includeRevoked: false })).map((k) => k.id)).toContain(c.keyId);
  });

  it('defaults to 100', () => {
    expect(config.API_KEYS_MAX_PER_TENANT).toBe(100);
  });
});
