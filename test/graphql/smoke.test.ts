import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFactories, createApiKey, createTenant, createUser } from '../factories.js';
import { codes, gql, mintJwt, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

describe('api server basics', () => {
  it('answers viewer for an API key and a JWT', async () => {
    const tenant = await createTenant();
    const key = await createApiKey({ tenantId: tenant.id, role: 'admin' });
    const r1 = await gql(h.url, '{ viewer { kind id role tenantId tenant { id name plan { code } } } }', { token: key.secret });
    expect(r1.errors).toBeUndefined();
    expect(r1.data.viewer).toMatchObject({ kind: 'api_key', id: key.keyId, role: 'ADMIN', tenantId: tenant.id, tenant: { id: tenant.id, name: tenant.name, plan: { code: 'starter' } } });

    const user = await createUser({ tenantId: tenant.id, role: 'finance' });
    const token = await mintJwt(h.config, { sub: user.id, tid: tenant.id, role: 'finance' });
    const r2 = await gql(h.url, '{ viewer { kind role user { id email role } } }', { token });
    expect(r2.errors).toBeUndefined();
    expect(r2.data.viewer).toEqual({ kind: 'user', role: 'FINANCE', user: { id: user.id, email: user.email, role: 'FINANCE' } });
  });

  it('no principal -> UNAUTHENTICATED, with a request id', async () => {
    const r = await gql(h.url, '{ viewer { id } }');
    expect(codes(r)).toEqual(['UNAUTHENTICATED']);
    expect(r.errors![0]!.extensions.requestId).toBe(r.headers.get('x-request-id'));
  });
});
