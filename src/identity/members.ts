/**
 * Who may act where: tenant memberships (member/admin/finance), the platform-operator list, and
 * revoked JWT ids. Every change is audited and announced on the identity channel, so every
 * replica's subject cache (subjects.ts) forgets what it knew at once.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from '../config/index.js';
import { isUuid, withPlatform, type PgPools } from '../db/index.js';
import { auditFrom, recordAudit, type Actor } from '../audit/index.js';
import { AppError, badInput, notFound, redisKey } from '../shared/index.js';
import type { Role } from './principal.js';

export const memberRoles = ['member', 'admin', 'finance'] as const satisfies readonly Role[];
export type MemberRole = (typeof memberRoles)[number];

export interface MembersDeps {
  pools: Pick<PgPools, 'app'>;
  /** Announces changes to every replica; null = their caches expire within MEMBERSHIP_CACHE_TTL_MS. */
  redis: Pick<Redis, 'publish'> | null;
  config: Pick<Config, 'REDIS_PREFIX'>;
}

export interface Member {
  tenantId: string;
  userId: string;
  email: string;
  name: string;
  role: MemberRole;
  createdAt: Date;
}

export interface PlatformOperator {
  userId: string;
  email: string;
  name: string;
  addedBy: string | null;
  createdAt: Date;
}

/** The channel every subject cache listens on (also for tenant status: src/keys' revocation channel). */
export function identityChannel(config: Pick<Config, 'REDIS_PREFIX'>): string {
  return redisKey(config, 'identity', 'changed');
}

async function announce(deps: MembersDeps, what: Record<string, string>): Promise<void> {
  if (!deps.redis) return;
  try {
    await deps.redis.publish(identityChannel(deps.config), JSON.stringify(what));
  } catch (err) {
    throw new AppError('UNAVAILABLE', `the change is committed, but it could not be announced (${(err as Error).message}); caches expire within MEMBERSHIP_CACHE_TTL_MS`);
  }
}

const normalEmail = (email: string) => email.trim().toLowerCase();

/** A user by id or e-mail; with `create`, a missing e-mail becomes a new user. */
async function userOf(c: pg.ClientBase, who: string, create: { name?: string } | null): Promise<{ id: string; email: string; name: string }> {
  if (isUuid(who)) {
    const { rows } = await c.query('SELECT id, email, name FROM users WHERE id = $1', [who]);
    if (!rows[0]) throw notFound(`no user ${who}`);
    return rows[0] as { id: string; email: string; name: string };
  }
  const email = normalEmail(who);
  if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) throw badInput(`expected a user id or an e-mail address, got ${JSON.stringify(String(who).slice(0, 80))}`);
  const { rows } = await c.query('SELECT id, email, name FROM users WHERE email = $1', [email]);
  if (rows[0]) return rows[0] as { id: string; email: string; name: string };
  if (!create) throw notFound(`no user ${email}`);
  const ins = await c.query('INSERT INTO users (email, name) VALUES ($1, $2) ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id, email, name', [email, create.name ?? '']);
  return ins.rows[0] as { id: string; email: string; name: string };
}

async function tenantExists(c: pg.ClientBase, tenantId: string): Promise<void> {
  if (!isUuid(tenantId) || (await c.query('SELECT 1 FROM tenants WHERE id = $1', [tenantId])).rowCount === 0) throw notFound(`no tenant ${tenantId}`);
}

/** Adds a user (id, or e-mail — created if new) to a tenant with a role, or changes the role. Idempotent. */
export async function addMember(deps: MembersDeps, input: { tenantId: string; user: string; role: MemberRole; name?: string; actor: Actor }): Promise<Member> {
  if (!memberRoles.includes(input.role)) throw badInput(`role must be one of ${memberRoles.join(', ')} (platform operators: tollgate operator add)`);
  const member = await withPlatform(deps.pools.app, async (c) => {
    await tenantExists(c, input.tenantId);
    const user = await userOf(c, input.user, { ...(input.name !== undefined ? { name: input.name } : {}) });
    const before = await c.query('SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE', [input.tenantId, user.id]);
    const { rows } = await c.query(
      `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role RETURNING created_at`,
      [input.tenantId, user.id, input.role],
    );
    const m: Member = { tenantId: input.tenantId, userId: user.id, email: user.email, name: user.name, role: input.role, createdAt: rows[0]!.created_at as Date };
    const prior = (before.rows[0]?.role as string | undefined) ?? null;
    if (prior !== input.role) {
      await recordAudit(c, auditFrom(input.actor, { tenantId: input.tenantId, action: prior ? 'member.role' : 'member.add', targetType: 'user', targetId: user.id, before: prior ? { role: prior } : null, after: { role: input.role } }));
    }
    return m;
  });
  await announce(deps, { userId: member.userId });
  return member;
}

/** Removes a user from a tenant: its tokens for that tenant are refused from the next request on. */
export async function removeMember(deps: MembersDeps, input: { tenantId: string; user: string; actor: Actor }): Promise<{ tenantId: string; userId: string }> {
  const userId = await withPlatform(deps.pools.app, async (c) => {
    await tenantExists(c, input.tenantId);
    const user = await userOf(c, input.user, null);
    const { rows } = await c.query('DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2 RETURNING role', [input.tenantId, user.id]);
    if (!rows[0]) throw notFound(`${user.email} is not a member of tenant ${input.tenantId}`);
    await recordAudit(c, auditFrom(input.actor, { tenantId: input.tenantId, action: 'member.remove', targetType: 'user', targetId: user.id, before: { role: rows[0].role }, after: null }));
    return user.id;
  });
  await announce(deps, { userId });
  return { tenantId: input.tenantId, userId };
}

export async function listMembers(deps: Pick<MembersDeps, 'pools'>, q: { tenantId: string }): Promise<Member[]> {
  return withPlatform(deps.pools.app, async (c) => {
    await tenantExists(c, q.tenantId);
    const { rows } = await c.query(
      `SELECT m.tenant_id, u.id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
       WHERE m.tenant_id = $1 ORDER BY u.email`,
      [q.tenantId],
    );
    return rows.map((r) => ({ tenantId: String(r.tenant_id), userId: String(r.id), email: String(r.email), name: String(r.name), role: r.role as MemberRole, createdAt: r.created_at as Date }));
  });
}

export async function addPlatformOperator(deps: MembersDeps, input: { user: string; name?: string; actor: Actor }): Promise<PlatformOperator> {
  const op = await withPlatform(deps.pools.app, async (c) => {
    const user = await userOf(c, input.user, { ...(input.name !== undefined ? { name: input.name } : {}) });
    const { rows } = await c.query(
      `INSERT INTO platform_operators (user_id, added_by) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING RETURNING added_by, created_at`,
      [user.id, `${input.actor.type}:${input.actor.id}`],
    );
    if (rows[0]) await recordAudit(c, auditFrom(input.actor, { tenantId: null, action: 'platform_operator.add', targetType: 'user', targetId: user.id, before: null, after: { email: user.email } }));
    const cur = rows[0] ?? (await c.query('SELECT added_by, created_at FROM platform_operators WHERE user_id = $1', [user.id])).rows[0]!;
    return { userId: user.id, email: user.email, name: user.name, addedBy: (cur.added_by as string | null) ?? null, createdAt: cur.created_at as Date };
  });
  await announce(deps, { userId: op.userId });
  return op;
}

export async function removePlatformOperator(deps: MembersDeps, input: { user: string; actor: Actor }): Promise<{ userId: string }> {
  const userId = await withPlatform(deps.pools.app, async (c) => {
    const user = await userOf(c, input.user, null);
    const { rowCount } = await c.query('DELETE FROM platform_operators WHERE user_id = $1', [user.id]);
    if (!rowCount) throw notFound(`${user.email} is not a platform operator`);
    await recordAudit(c, auditFrom(input.actor, { tenantId: null, action: 'platform_operator.remove', targetType: 'user', targetId: user.id, before: { email: user.email }, after: null }));
    return user.id;
  });
  await announce(deps, { userId });
  return { userId };
}

export async function listPlatformOperators(deps: Pick<MembersDeps, 'pools'>): Promise<PlatformOperator[]> {
  return withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query('SELECT u.id, u.email, u.name, o.added_by, o.created_at FROM platform_operators o JOIN users u ON u.id = o.user_id ORDER BY u.email');
    return rows.map((r) => ({ userId: String(r.id), email: String(r.email), name: String(r.name), addedBy: (r.added_by as string | null) ?? null, createdAt: r.created_at as Date }));
  });
}

/** Revokes a JWT by its `jti` (idempotent): every replica refuses it from the next request on. */
export async function revokeJwt(deps: MembersDeps, input: { jti: string; reason?: string; actor: Actor }): Promise<{ jti: string; revokedAt: Date }> {
  if (input.jti.length < 1 || input.jti.length > 256) throw badInput('jti must be 1 to 256 characters');
  const out = await withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query(
      `INSERT INTO jwt_revocations (jti, revoked_by, reason) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING RETURNING revoked_at`,
      [input.jti, `${input.actor.type}:${input.actor.id}`, input.reason ?? ''],
    );
    if (rows[0]) await recordAudit(c, auditFrom(input.actor, { tenantId: null, action: 'jwt.revoke', targetType: 'jwt', targetId: input.jti, before: null, after: { reason: input.reason ?? '' } }));
    const at = rows[0] ?? (await c.query('SELECT revoked_at FROM jwt_revocations WHERE jti = $1', [input.jti])).rows[0]!;
    return { jti: input.jti, revokedAt: at.revoked_at as Date };
  });
  await announce(deps, { jti: input.jti });
  return out;
}

export interface MemberRow {
  tenantId: string;
  id: string;
  name: string;
  email: string;
  role: string;
}

/** Users as members of tenants, for a batch of (tenantId, userId) pairs (GraphQL's member loader), in the caller's transaction (row-level security applies). */
export async function membersByKeys(c: pg.ClientBase, keys: ReadonlyArray<{ tenantId: string; userId: string }>): Promise<MemberRow[]> {
  const valid = keys.filter((k) => isUuid(k.tenantId) && isUuid(k.userId));
  if (valid.length === 0) return [];
  const { rows } = await c.query(
    `SELECT m.tenant_id, u.id, u.name, u.email, m.role
     FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, user_id)
     JOIN memberships m ON m.tenant_id = k.tenant_id AND m.user_id = k.user_id
     JOIN users u ON u.id = m.user_id`,
    [valid.map((k) => k.tenantId), valid.map((k) => k.userId)],
  );
  return rows.map((r) => ({ tenantId: String(r.tenant_id), id: String(r.id), name: String(r.name), email: String(r.email), role: String(r.role) }));
}
