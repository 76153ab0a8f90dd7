/** API keys of a tenant: create (secret shown once), list, revoke (audited, broadcast to every replica). */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { isUuid, withTenant, type PgClient, type PgPools } from '../db/index.js';
import { AppError, badInput, notFound, redisKey } from '../shared/index.js';
import { auditFrom, recordAudit, systemActor, type Actor } from '../audit/index.js';
import { generateSecret } from './secret.js';

export const apiKeyRoles = ['member', 'admin', 'finance'] as const;
export type ApiKeyRole = (typeof apiKeyRoles)[number];

export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  name: string;
  role: ApiKeyRole;
  prefix: string;
  createdBy: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  expiresAt: Date | null;
}

export interface KeysDeps {
  pools: Pick<PgPools, 'app'>;
  /** Publishes revocations; without it other replicas only notice at their cache TTL. */
  redis?: Pick<Redis, 'publish'> | null;
  config: Pick<Config, 'REDIS_PREFIX'>;
}

/** The api_keys columns `apiKeyFromRow` reads (never the hash). */
export const API_KEY_COLUMNS = 'id, tenant_id, name, role, prefix, created_by, created_at, last_used_at, revoked_at, expires_at';
const COLS = API_KEY_COLUMNS;

export function apiKeyFromRow(r: Record<string, unknown>): ApiKeyInfo {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    name: String(r.name),
    role: r.role as ApiKeyRole,
    prefix: String(r.prefix),
    createdBy: (r.created_by as string | null) ?? null,
    createdAt: r.created_at as Date,
    lastUsedAt: (r.last_used_at as Date | null) ?? null,
    revokedAt: (r.revoked_at as Date | null) ?? null,
    expiresAt: (r.expires_at as Date | null) ?? null,
  };
}

/**
 * The Redis pub/sub channel carrying `{"keyId": ..., "tenantId": ...}` on every revocation, and
 * `{"tenantId": ...}` when a tenant's status changes (evict all its keys).
 */
export function revocationChannel(config: Pick<Config, 'REDIS_PREFIX'>): string {
  return redisKey(config, 'keys', 'revoked');
}

/** Tells every authenticator to forget a tenant's cached keys (best effort; the cache TTL is the backstop). */
export async function publishTenantKeysChanged(deps: Pick<KeysDeps, 'redis' | 'config'>, tenantId: string): Promise<void> {
  if (deps.redis) await deps.redis.publish(revocationChannel(deps.config), JSON.stringify({ tenantId }));
}

const createSchema = z.object({
  tenantId: z.string().uuid(),
  name: z.string().max(200).default(''),
  role: z.enum(apiKeyRoles).default('member'),
  expiresAt: z.date().nullish(),
});

export interface CreatedApiKey {
  keyId: string;
  /** Shown once; only its sha256 is stored. */
  secret: string;
  prefix: string;
  key: ApiKeyInfo;
}

/** `deps.config.API_KEYS_MAX_PER_TENANT` bounds a tenant's live keys: one more is a CONFLICT naming the limit (GraphQL shows it as BAD_USER_INPUT). */
export async function createApiKey(
  deps: Pick<KeysDeps, 'pools'> & { config: Pick<Config, 'API_KEYS_MAX_PER_TENANT'> },
  input: { tenantId: string; name?: string; role?: ApiKeyRole; expiresAt?: Date | null; actor?: Actor },
): Promise<CreatedApiKey> {
  const parsed = createSchema.safeParse(input);
  if (!parsed.success) throw badInput(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const k = parsed.data;
  if (k.expiresAt && k.expiresAt.getTime() <= Date.now()) throw badInput('expiresAt must be in the future');
  const actor = input.actor ?? systemActor;
  const { secret, prefix, hash } = generateSecret();
  try {
    return await withTenant(deps.pools.app, { tenantId: k.tenantId }, async (c) => {
      await assertRoomForKey(c, k.tenantId, deps.config.API_KEYS_MAX_PER_TENANT);
      const { rows } = await c.query(
        `INSERT INTO api_keys (tenant_id, name, role, prefix, hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLS}`,
        [k.tenantId, k.name, k.role, prefix, hash, `${actor.type}:${actor.id}`, k.expiresAt ?? null],
      );
      const key = apiKeyFromRow(rows[0]!);
      await recordAudit(c, auditFrom(actor, { tenantId: k.tenantId, action: 'api_key.create', targetType: 'api_key', targetId: key.id, before: null, after: key }));
      return { keyId: key.id, secret, prefix, key };
    });
  } catch (err) {
    if ((err as { code?: string }).code === '23503') throw notFound('tenant not found');
    throw err;
  }
}

/**
 * Every live key is a credential to leak and a row each authentication may hit: a tenant holds at
 * most `limit` unrevoked, unexpired keys. The per-tenant advisory lock (held to commit) makes
 * the count and the insert one step, so concurrent creates cannot overshoot.
 */
async function assertRoomForKey(c: PgClient, tenantId: string, limit: number): Promise<void> {
  await c.query("SELECT pg_advisory_xact_lock(hashtextextended('tollgate.api_keys:' || $1, 0))", [tenantId]);
  const { rows } = await c.query<{ live: number }>(
    'SELECT count(*)::int AS live FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())',
    [tenantId],
  );
  const live = rows[0]?.live ?? 0;
  if (live >= limit) {
    throw new AppError('CONFLICT', `the tenant already has ${live} live API keys and may hold at most ${limit} (API_KEYS_MAX_PER_TENANT=${limit}); revoke keys it no longer uses first`, { limit, live });
  }
}

export async function listApiKeys(deps: Pick<KeysDeps, 'pools'>, q: { tenantId: string; includeRevoked?: boolean }): Promise<ApiKeyInfo[]> {
  if (!isUuid(q.tenantId)) return [];
  return withTenant(deps.pools.app, q, async (c) => {
    const { rows } = await c.query(`SELECT ${COLS} FROM api_keys WHERE tenant_id = $1 AND ($2 OR revoked_at IS NULL) ORDER BY created_at, id`, [q.tenantId, q.includeRevoked ?? true]);
    return rows.map(apiKeyFromRow);
  });
}

export async function getApiKey(deps: Pick<KeysDeps, 'pools'>, q: { tenantId: string; keyId: string }): Promise<ApiKeyInfo | null> {
  if (!isUuid(q.tenantId) || !isUuid(q.keyId)) return null;
  return withTenant(deps.pools.app, q, async (c) => {
    const { rows } = await c.query(`SELECT ${COLS} FROM api_keys WHERE tenant_id = $1 AND id = $2`, [q.tenantId, q.keyId]);
    return rows[0] ? apiKeyFromRow(rows[0]) : null;
  });
}

/**
 * Revokes a key (idempotent), audited, then tells every replica's authenticator to drop it
 * from its cache. A key of another tenant reads as NOT_FOUND.
 */
export async function revokeApiKey(deps: KeysDeps, q: { tenantId: string; keyId: string; actor: Actor }): Promise<ApiKeyInfo> {
  if (!isUuid(q.tenantId) || !isUuid(q.keyId)) throw notFound('API key not found');
  const key = await withTenant(deps.pools.app, q, async (c) => {
    const { rows: cur } = await c.query(`SELECT ${COLS} FROM api_keys WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [q.tenantId, q.keyId]);
    if (!cur[0]) throw notFound('API key not found');
    const before = apiKeyFromRow(cur[0]);
    if (before.revokedAt) return before;
    const { rows } = await c.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1 RETURNING ${COLS}`, [q.keyId]);
    const after = apiKeyFromRow(rows[0]!);
    await recordAudit(c, auditFrom(q.actor, { tenantId: q.tenantId, action: 'api_key.revoke', targetType: 'api_key', targetId: q.keyId, before, after }));
    return after;
  });
  if (deps.redis) {
    try {
      await deps.redis.publish(revocationChannel(deps.config), JSON.stringify({ keyId: key.id, tenantId: key.tenantId }));
    } catch (err) {
      // The revocation is committed; replicas still drop the key when their cache TTL expires.
      throw new AppError('UNAVAILABLE', `API key revoked, but the revocation could not be broadcast (${(err as Error).message}); caches expire within API_KEY_CACHE_TTL_MS`);
    }
  }
  return key;
}
