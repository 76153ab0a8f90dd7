/**
 * A tenant admin cannot mint keys without bound (each is a credential to leak): createApiKey past
 * API_KEYS_MAX_PER_TENANT live keys is refused naming the limit (the API's BAD_USER_INPUT, which
 * is where it maps src's CONFLICT, with details {limit, live}), for an admin key and for a platform
 * operator acting on the tenant alike; revoking a key makes room again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFactories, createTenantWithKey, createUser } from '../factories.js';
import { codes, gql, mintJwt, startHarness, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { API_KEYS_MAX_PER_TENANT: '3' } });
});
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

const create = 'mutation($tenantId: ID) { createApiKey(input: { name: "bulk", tenantId: $tenantId }) { secret apiKey { id } } }';

describe('createApiKey and the per-tenant key limit', () => {
  it('refuses the key past the limit with CONFLICT, creates again after a revocation', async () => {
    // The factory's admin key is the tenant's first live key.
    const { tenant, key } = await createTenantWithKey({ role: 'admin' });
    const made: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await gql(h.url, create, { token: key.secret });
      expect(r.errors).toBeUndefined();
      made.push(r.data.createApiKey.apiKey.id);
    }
    const refused = await gql(h.url, create, { token: key.secret });
    expect(codes(refused)).toEqual(['BAD_USER_INPUT']);
    expect(refused.errors![0]!.message).toContain('API_KEYS_MAX_PER_TENANT=3');
    expect((refused.errors![0]!.extensions as { details?: unknown }).details).toEqual({ limit: 3, live: 3 });
    expect(refused.data).toBeNull();

    // A platform operator is held to the same rule for this tenant.
    const operator = await createUser({});
    const platform = await mintJwt(h.config, { sub: operator.id, tid: null, role: 'platform' });
    expect(codes(await gql(h.url, create, { token: platform, variables: { tenantId: tenant.id } }))).toEqual(['BAD_USER_INPUT']);

    const { rows } = await h.pools.owner.query('SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1', [tenant.id]);
    expect(rows[0].n).toBe(3);

    const revoked = await gql(h.url, 'mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }', { token: key.secret, variables: { id: made[0] } });
    expect(revoked.errors).toBeUndefined();
    const again = await gql(h.url, create, { token: key.secret });
    expect(again.errors).toBeUndefined();
    expect(again.data.createApiKey.secret).toMatch(/^tg_/);
  });
});
