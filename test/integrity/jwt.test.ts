/**
 * Issue 17.11 as attacks against the real API server (GraphQL over HTTP, Postgres, Redis): a JWT
 * is a statement about a user that the database must confirm, and it does not live forever.
 * Before the fix: a token with a 100-year `exp` and no `iat` was accepted, a `role`/`tid` claim
 * was believed as written, a removed member kept access until `exp`, and no token could be revoked.
 * The membership cache TTL is set to 10 minutes here, so each refusal after a change proves the
 * change was announced to the server, not waited out.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import { addMember, addPlatformOperator, removeMember, removePlatformOperator, revokeJwt } from '../../src/identity/index.js';
import { closeFactories, createTenant, createUser, testActor } from '../factories.js';
import { codes, gql, mintJwt, startHarness, type Harness } from '../graphql/harness.js';

let h: Harness;
let tenantId = '';
let otherTenantId = '';
beforeAll(async () => {
  h = await startHarness({ env: { MEMBERSHIP_CACHE_TTL_MS: '600000', JWT_MAX_AGE_SECONDS: '3600' } });
  tenantId = (await createTenant()).id;
  otherTenantId = (await createTenant()).id;
}, 60_000);
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

const deps = () => ({ pools: h.pools, redis: h.redis, config: h.config });
const viewer = '{ viewer { id role } }';
const tenantsDoc = '{ tenants(first: 5) { edges { node { id } } } }';
const now = () => Math.floor(Date.now() / 1000);

async function member(role: 'member' | 'admin' | 'finance' = 'member') {
  return createUser({ tenantId, role });
}

describe('17.11: token lifetime', () => {
  it('a token issued longer ago than JWT_MAX_AGE_SECONDS is refused, whatever its exp says', async () => {
    const u = await member();
    const fresh = await mintJwt(h.config, { sub: u.id, tid: tenantId, role: 'member' });
    expect((await gql(h.url, viewer, { token: fresh })).errors).toBeUndefined();
    // The audit's token: valid signature, exp 100 years out, issued two hours ago.
    const old = await mintJwt(h.config, { sub: u.id, tid: tenantId, role: 'member' }, { iat: now() - 7200, expiresIn: now() + 100 * 365 * 86400 });
    const r = await gql(h.url, viewer, { token: old });
    expect(r.status).toBe(401);
    expect(codes(r)).toEqual(['UNAUTHENTICATED']);
    expect(r.errors![0]!.message).toMatch(/too old/);
  });

  it('a token without iat is refused', async () => {
    const u = await member();
    const r = await gql(h.url, viewer, { token: await mintJwt(h.config, { sub: u.id, tid: tenantId, role: 'member' }, { iat: null, expiresIn: now() + 100 * 365 * 86400 }) });
    expect(r.status).toBe(401);
    expect(r.errors![0]!.message).toMatch(/iat/);
  });
});

describe('17.11: the role and tenant come from memberships', () => {
  it('a member whose token claims admin or platform is refused; without a role claim it gets its membership role', async () => {
    const u = await member('member');
    for (const role of ['admin', 'finance'] as const) {
      const r = await gql(h.url, viewer, { token: await mintJwt(h.config, { sub: u.id, tid: tenantId, role }) });
      expect([role, r.status, codes(r)]).toEqual([role, 401, ['UNAUTHENTICATED']]);
    }
    const platform = await gql(h.url, tenantsDoc, { token: await mintJwt(h.config, { sub: u.id, tid: null, role: 'platform' }, { register: false }) });
    expect([platform.status, codes(platform)]).toEqual([401, ['UNAUTHENTICATED']]);
    const noClaim = await gql(h.url, viewer, { token: await mintJwt(h.config, { sub: u.id, tid: tenantId }) });
    expect(noClaim.errors).toBeUndefined();
    expect(noClaim.data.viewer.role).toBe('MEMBER');
  });

  it('a tid naming another tenant (where the user is no member) is refused', async () => {
    const u = await member('admin');
    const r = await gql(h.url, viewer, { token: await mintJwt(h.config, { sub: u.id, tid: otherTenantId, role: 'admin' }) });
    expect([r.status, codes(r)]).toEqual([401, ['UNAUTHENTICATED']]);
    const unknownUser = await gql(h.url, viewer, { token: await mintJwt(h.config, { sub: randomUUID(), tid: tenantId, role: 'member' }) });
    expect([unknownUser.status, codes(unknownUser)]).toEqual([401, ['UNAUTHENTICATED']]);
  });

  it('a role change applies to the next request; a removed member is refused at once', async () => {
    const u = await member('member');
    const token = await mintJwt(h.config, { sub: u.id, tid: tenantId });
    expect((await gql(h.url, viewer, { token })).data.viewer.role).toBe('MEMBER');
    await addMember(deps(), { tenantId, user: u.id, role: 'admin', actor: testActor });
    await vi.waitFor(async () => expect((await gql(h.url, viewer, { token })).data?.viewer.role).toBe('ADMIN'), { timeout: 5_000, interval: 50 });
    await removeMember(deps(), { tenantId, user: u.email, actor: testActor });
    await vi.waitFor(async () => expect(codes(await gql(h.url, viewer, { token }))).toEqual(['UNAUTHENTICATED']), { timeout: 5_000, interval: 50 });
  });

  it('platform comes from the operator list: added, it works; removed, it is refused', async () => {
    const u = await createUser({});
    const token = await mintJwt(h.config, { sub: u.id, tid: null, role: 'platform' }, { register: false });
    expect(codes(await gql(h.url, tenantsDoc, { token }))).toEqual(['UNAUTHENTICATED']);
    await addPlatformOperator(deps(), { user: u.id, actor: testActor });
    await vi.waitFor(async () => expect((await gql(h.url, tenantsDoc, { token })).errors).toBeUndefined(), { timeout: 5_000, interval: 50 });
    await removePlatformOperator(deps(), { user: u.email, actor: testActor });
    await vi.waitFor(async () => expect(codes(await gql(h.url, tenantsDoc, { token }))).toEqual(['UNAUTHENTICATED']), { timeout: 5_000, interval: 50 });
  });
});

describe('17.11: revocation by jti', () => {
  it('a revoked token is refused on the next request; other tokens of the same user still work', async () => {
    const u = await member('admin');
    const jti = randomUUID();
    const token = await mintJwt(h.config, { sub: u.id, tid: tenantId, role: 'admin' }, { jti });
    const sibling = await mintJwt(h.config, { sub: u.id, tid: tenantId, role: 'admin' }, { jti: randomUUID() });
    expect((await gql(h.url, viewer, { token })).errors).toBeUndefined(); // now cached for 10 minutes
    await revokeJwt(deps(), { jti, reason: 'laptop stolen', actor: testActor });
    await vi.waitFor(async () => {
      const r = await gql(h.url, viewer, { token });
      expect([r.status, r.errors?.[0]?.message]).toEqual([401, 'token revoked']);
    }, { timeout: 5_000, interval: 50 });
    expect((await gql(h.url, viewer, { token: sibling })).errors).toBeUndefined();
  });
});
