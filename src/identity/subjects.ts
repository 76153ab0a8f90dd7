/**
 * What a verified JWT's subject may do: its role in the tenant it names (membership), or
 * `platform` (the operator list), whether that tenant is suspended, and whether the token's `jti`
 * is revoked — one narrow SECURITY DEFINER read (`auth_jwt_subject`, migration 012), cached per
 * (user, tenant, jti) for MEMBERSHIP_CACHE_TTL_MS. Any membership, operator or revocation change
 * (identity channel) and any tenant status change (src/keys' revocation channel) empties every
 * replica's cache at once; if the subscription drops, the cache is emptied when it comes back and
 * the TTL bounds staleness meanwhile.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import { tracedQuery, type PgPools } from '../db/index.js';
import { redisKey, type Logger } from '../shared/index.js';
import { identityChannel } from './members.js';

export interface Subject {
  operator: boolean;
  /** The membership role in the tenant asked about, or null. */
  role: string | null;
  tenantStatus: string | null;
  revoked: boolean;
}

export interface SubjectResolver {
  resolve(userId: string, tenantId: string | null, jti: string | null): Promise<Subject>;
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export function createSubjectResolver(deps: { pools: Pick<PgPools, 'app'>; redis: Redis | null; config: Pick<Config, 'REDIS_PREFIX' | 'MEMBERSHIP_CACHE_TTL_MS'>; log?: Pick<Logger, 'warn' | 'debug'>; maxEntries?: number }): SubjectResolver {
  const ttl = deps.config.MEMBERSHIP_CACHE_TTL_MS;
  const maxEntries = deps.maxEntries ?? 10_000;
  const cache = new Map<string, { value: Subject; until: number }>();
  let epoch = 0;
  const flush = () => {
    epoch++;
    cache.clear();
  };

  // src/keys' revocationChannel carries tenant status changes (spelled here: keys imports identity's types, not the reverse).
  const channels = [identityChannel(deps.config), redisKey(deps.config, 'keys', 'revoked')];
  const sub = deps.redis ? deps.redis.duplicate() : null;
  let subscribedOnce = false;
  const ready: Promise<void> = sub
    ? sub.subscribe(...channels).then(
        () => {
          subscribedOnce = true;
        },
        (err: Error) => deps.log?.warn({ err: err.message }, 'identity subscription failed; relying on the membership cache TTL'),
      )
    : Promise.resolve();
  if (sub) {
    // Changes are rare: forget everything rather than track which entries a change touches.
    sub.on('message', flush);
    sub.on('ready', () => {
      if (subscribedOnce) flush();
    });
    sub.on('error', (err: Error) => deps.log?.debug({ err: err.message }, 'identity subscriber error'));
  }

  return {
    ready,
    async resolve(userId, tenantId, jti) {
      const key = `${userId}|${tenantId ?? ''}|${jti ?? ''}`;
      const hit = cache.get(key);
      if (hit && hit.until > Date.now()) return hit.value;
      const start = epoch;
      const { rows } = await tracedQuery(deps.pools.app, 'identity.subject', 'SELECT operator, role, tenant_status, revoked FROM auth_jwt_subject($1, $2, $3)', [userId, tenantId, jti]);
      const r = rows[0] ?? {};
      const value: Subject = { operator: r.operator === true, role: (r.role as string | null) ?? null, tenantStatus: (r.tenant_status as string | null) ?? null, revoked: r.revoked === true };
      // A lookup that raced a change is not cached.
      if (ttl > 0 && epoch === start) {
        cache.delete(key);
        cache.set(key, { value, until: Date.now() + ttl });
        if (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
      }
      return value;
    },
    async close() {
      flush();
      if (sub) {
        sub.removeAllListeners('message');
        await sub.quit().catch(() => sub.disconnect());
      }
    },
  };
}
