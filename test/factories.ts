/**
 * Test data factories against the per-run database (loadConfig() after global setup). Every
 * call makes uniquely named rows, so test files never collide and never depend on order.
 * Uses one lazily created pool pair per test file; call closeFactories() in afterAll.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../src/config/index.js';
import { createPgPools, withPlatform, type PgPools } from '../src/db/index.js';
import { createTenant as createTenantRow, type Tenant } from '../src/tenants/index.js';
import { createApiKey as createApiKeyRow, type ApiKeyRole, type CreatedApiKey } from '../src/keys/index.js';
import type { Actor } from '../src/audit/index.js';

export const testActor: Actor = { type: 'system', id: 'test-factory' };

let shared: { config: Config; pools: PgPools } | undefined;

/** The config and pools factories use (created on first use). */
export function factoryDeps(): { config: Config; pools: PgPools } {
  if (!shared) {
    const config = loadConfig();
    shared = { config, pools: createPgPools(config, { applicationName: 'tollgate-test-factories' }) };
  }
  return shared;
}

export async function closeFactories(): Promise<void> {
  const s = shared;
  shared = undefined;
  await s?.pools.close();
}

export function uniqueName(prefix = 't'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export interface TenantOverrides {
  name?: string;
  displayName?: string;
  plan?: string;
  timezone?: string;
  billingAnchorDay?: number;
  status?: 'active' | 'past_due' | 'suspended';
  /** Backdates the first plan (as `tenant create --billing-start` does), so history can be imported. */
  billingStart?: Date;
}

/** A tenant whose first plan started `days` days ago. */
export function createTenantSince(days: number, overrides: Omit<TenantOverrides, 'billingStart'> = {}): Promise<Tenant & { plan: string }> {
  return createTenant({ ...overrides, billingStart: new Date(Date.now() - days * 86_400_000) });
}

/** A tenant (default plan: starter) with its tenant_plans row. */
export async function createTenant(overrides: TenantOverrides = {}): Promise<Tenant & { plan: string }> {
  const { pools } = factoryDeps();
  const plan = overrides.plan ?? 'starter';
  const tenant = await createTenantRow(
    { pools },
    { name: overrides.name ?? uniqueName(), displayName: overrides.displayName, plan, timezone: overrides.timezone, billingAnchorDay: overrides.billingAnchorDay, billingStart: overrides.billingStart?.toISOString(), actor: testActor },
  );
  if (overrides.status && overrides.status !== tenant.status) {
    await withPlatform(pools.app, (c) => c.query('UPDATE tenants SET status = $2 WHERE id = $1', [tenant.id, overrides.status]));
    tenant.status = overrides.status;
  }
  return { ...tenant, plan };
}

export async function createApiKey(opts: { tenantId: string; role?: ApiKeyRole; name?: string; expiresAt?: Date }): Promise<CreatedApiKey> {
  const { pools, config } = factoryDeps();
  return createApiKeyRow({ pools, config }, { tenantId: opts.tenantId, role: opts.role, name: opts.name ?? uniqueName('key'), expiresAt: opts.expiresAt, actor: testActor });
}

/** A tenant plus one API key. */
export async function createTenantWithKey(overrides: TenantOverrides & { role?: ApiKeyRole } = {}): Promise<{ tenant: Tenant & { plan: string }; key: CreatedApiKey }> {
  const tenant = await createTenant(overrides);
  const key = await createApiKey({ tenantId: tenant.id, role: overrides.role });
  return { tenant, key };
}

export interface TestUser {
  id: string;
  email: string;
  name: string;
}

/** A user, optionally a member of a tenant with a role. */
export async function createUser(opts: { email?: string; name?: string; tenantId?: string; role?: 'member' | 'admin' | 'finance' | 'platform' } = {}): Promise<TestUser> {
  const { pools } = factoryDeps();
  const email = opts.email ?? `${uniqueName('user')}@example.test`;
  return withPlatform(pools.app, async (c) => {
    const { rows } = await c.query<TestUser>('INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id, email, name', [email.toLowerCase(), opts.name ?? 'Test User']);
    const user = rows[0]!;
    // Platform is no tenant role (migration 012): such a user goes on the operator list.
    if (opts.role === 'platform') await c.query('INSERT INTO platform_operators (user_id, added_by) VALUES ($1, $2)', [user.id, 'test']);
    else if (opts.tenantId) await c.query('INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)', [opts.tenantId, user.id, opts.role ?? 'member']);
    return user;
  });
}

/** Puts a user on the platform-operator list (idempotent). */
export async function makePlatformOperator(userId: string): Promise<void> {
  await withPlatform(factoryDeps().pools.app, (c) => c.query('INSERT INTO platform_operators (user_id, added_by) VALUES ($1, $2) ON CONFLICT DO NOTHING', [userId, 'test']));
}

/** A webhook endpoint for a tenant. */
export async function createWebhookEndpoint(opts: { tenantId: string; url?: string; events?: string[]; secret?: string }): Promise<{ id: string; secret: string }> {
  const { pools } = factoryDeps();
  const secret = opts.secret ?? randomBytes(24).toString('base64url');
  return withPlatform(pools.app, async (c) => {
    const { rows } = await c.query<{ id: string }>('INSERT INTO webhook_endpoints (tenant_id, url, secret, events) VALUES ($1, $2, $3, $4) RETURNING id', [
      opts.tenantId,
      opts.url ?? 'http://127.0.0.1:9/hook',
      secret,
      opts.events ?? ['alert.opened'],
    ]);
    return { id: rows[0]!.id, secret };
  });
}
