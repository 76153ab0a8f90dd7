/**
 * Resolves an API-key secret to its principal on every inference request.
 *
 * - Lookup: sha256(secret) -> SQL function `auth_api_key(hash)` (SECURITY DEFINER, migration 005),
 *   the one narrow cross-tenant read the app role may do: it returns only a live key for exactly
 *   that hash, so the hot path needs no platform transaction.
 * - Cache: in-process LRU keyed by hash, TTL = API_KEY_CACHE_TTL_MS (capped at the key's
 *   expiry); unknown secrets are cached negatively for a shorter time; concurrent lookups of one
 *   hash share a single query.
 * - Revocation: revokeApiKey publishes on `${REDIS_PREFIX}:keys:revoked`; every authenticator
 *   subscribes and evicts that key at once (a message with only `tenantId`, sent when a tenant is
 *   suspended or reactivated, evicts all of that tenant's keys). If the subscription drops, the whole cache is flushed
 *   when it comes back; the TTL is the backstop either way. A lookup that raced a revocation is
 *   not cached.
 * - last_used_at: updated at most once a minute per key, off the request path.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import { tracedQuery, withTenant, type PgPools } from '../db/index.js';
import type { Logger } from '../shared/index.js';
import type { ApiKeyRecord, LookupGuard } from '../identity/index.js';
import { revocationChannel, type ApiKeyRole } from './repo.js';
import { hashSecret, looksLikeSecret } from './secret.js';

/** What a lookup reports (src/identity turns it into the request's principal). */
export interface LiveApiKey extends ApiKeyRecord {
  role: ApiKeyRole;
  tenantStatus: 'active' | 'past_due' | 'suspended';
}

export interface ApiKeyAuthenticator {
  /**
   * The key for a secret, or null (unknown, malformed, revoked or expired). `guard` runs before a
   * lookup reaches the database (never on a cache hit) and may refuse it by throwing
   * (src/identity's failed-credential limiter).
   */
  authenticate(secret: string, opts?: { guard?: LookupGuard }): Promise<LiveApiKey | null>;
  /** Drops a key from this replica's cache (called on revocation messages). */
  evict(keyId: string): void;
  /** Drops every cached key of a tenant (called when its status changes). */
  evictTenant(tenantId: string): void;
  /** Resolves once the revocation subscription is active (immediately without Redis; never rejects). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface AuthenticatorOptions {
  pools: Pick<PgPools, 'app'>;
  /** Used to create a dedicated subscriber connection (`duplicate()`); null = TTL-only invalidation. */
  redis: Redis | null;
  config: Pick<Config, 'API_KEY_CACHE_TTL_MS' | 'REDIS_PREFIX'>;
  log?: Pick<Logger, 'warn' | 'debug'>;
  /** Max cached secrets (positive + negative). Default 10,000. */
  maxEntries?: number;
  /** Negative-cache TTL; default min(1 s, API_KEY_CACHE_TTL_MS). */
  negativeTtlMs?: number;
  /** Minimum spacing of last_used_at writes per key. Default 60 s. */
  touchIntervalMs?: number;
}

interface Entry {
  value: LiveApiKey | null;
  expiresAt: number;
}

export function createApiKeyAuthenticator(opts: AuthenticatorOptions): ApiKeyAuthenticator {
  const ttl = opts.config.API_KEY_CACHE_TTL_MS;
  const negativeTtl = opts.negativeTtlMs ?? Math.min(1000, ttl);
  const maxEntries = opts.maxEntries ?? 10_000;
  const touchInterval = opts.touchIntervalMs ?? 60_000;
  const cache = new Map<string, Entry>(); // insertion order = LRU order
  const hashByKey = new Map<string, string>();
  const inflight = new Map<string, Promise<LiveApiKey | null>>();
  const lastTouch = new Map<string, number>();
  const pendingTouches = new Set<Promise<void>>();
  let epoch = 0; // bumped by every eviction, so a lookup that raced one is not cached
  let closed = false;

  function remember(hash: string, value: LiveApiKey | null, expiresAt: number | null) {
    const life = value ? ttl : negativeTtl;
    if (life <= 0) return;
    let until = Date.now() + life;
    if (expiresAt !== null) until = Math.min(until, expiresAt);
    cache.delete(hash);
    cache.set(hash, { value, expiresAt: until });
    if (value) hashByKey.set(value.keyId, hash);
    while (cache.size > maxEntries) {
      const oldest = cache.keys().next().value as string;
      const e = cache.get(oldest);
      cache.delete(oldest);
      if (e?.value && hashByKey.get(e.value.keyId) === oldest) hashByKey.delete(e.value.keyId);
    }
  }

  function evict(keyId: string) {
    epoch++;
    const hash = hashByKey.get(keyId);
    hashByKey.delete(keyId);
    if (hash) cache.delete(hash);
  }

  /** Drops every cached key of a tenant (its status changed). Rare, so a scan is fine. */
  function evictTenant(tenantId: string) {
    epoch++;
    for (const [hash, e] of cache) {
      if (e.value?.tenantId !== tenantId) continue;
      cache.delete(hash);
      hashByKey.delete(e.value.keyId);
    }
  }

  function flush() {
    epoch++;
    cache.clear();
    hashByKey.clear();
  }

  async function lookup(hash: string): Promise<LiveApiKey | null> {
    const startEpoch = epoch;
    const { rows } = await tracedQuery(opts.pools.app, 'keys.authenticate', 'SELECT key_id, tenant_id, role, tenant_status, expires_at FROM auth_api_key($1)', [hash]);
    const r = rows[0];
    const value: LiveApiKey | null = r ? { keyId: r.key_id, tenantId: r.tenant_id, role: r.role, tenantStatus: r.tenant_status } : null;
    if (epoch === startEpoch && !closed) remember(hash, value, r?.expires_at ? (r.expires_at as Date).getTime() : null);
    return value;
  }

  async function guardedLookup(guard: LookupGuard, hash: string): Promise<LiveApiKey | null> {
    const ticket = await guard(hash);
    const value = await lookup(hash);
    ticket.settle(value !== null);
    return value;
  }

  function touch(p: LiveApiKey) {
    const now = Date.now();
    if (closed || now - (lastTouch.get(p.keyId) ?? 0) < touchInterval) return;
    lastTouch.set(p.keyId, now);
    if (lastTouch.size > maxEntries) lastTouch.delete(lastTouch.keys().next().value as string);
    const job = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() =>
        withTenant(opts.pools.app, { tenantId: p.tenantId }, (c) =>
          // The interval check in SQL also keeps many replicas from rewriting the same row.
          c.query(`UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`, [p.keyId, touchInterval / 1000]),
        ),
      )
      .then(
        () => undefined,
        (err: Error) => opts.log?.warn({ err: err.message, keyId: p.keyId }, 'api key last_used_at update failed'),
      );
    pendingTouches.add(job);
    void job.finally(() => pendingTouches.delete(job));
  }

  // Revocation subscription on a dedicated connection (a subscribed ioredis client can do nothing else).
  const channel = revocationChannel(opts.config);
  const sub = opts.redis ? opts.redis.duplicate() : null;
  let subscribedOnce = false;
  // Never rejects: without the subscription the cache TTL still bounds staleness.
  const ready: Promise<void> = sub
    ? sub.subscribe(channel).then(
        () => {
          subscribedOnce = true;
        },
        (err: Error) => opts.log?.warn({ err: err.message }, 'api key revocation subscription failed; relying on cache TTL'),
      )
    : Promise.resolve();
  if (sub) {
    sub.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      try {
        const { keyId, tenantId } = JSON.parse(message) as { keyId?: unknown; tenantId?: unknown };
        if (typeof keyId === 'string') evict(keyId);
        else if (typeof tenantId === 'string') evictTenant(tenantId);
        else flush();
      } catch {
        flush(); // unreadable message: be safe
      }
    });
    // Messages published while disconnected are lost: start from an empty cache after a reconnect.
    sub.on('ready', () => {
      if (subscribedOnce) flush();
    });
    sub.on('error', (err: Error) => opts.log?.debug({ err: err.message }, 'api key revocation subscriber error'));
  }

  return {
    ready,
    evict,
    evictTenant,
    async authenticate(secret: string, authOpts: { guard?: LookupGuard } = {}) {
      if (closed) throw new Error('authenticator is closed');
      if (!looksLikeSecret(secret)) return null;
      const hash = hashSecret(secret);
      const hit = cache.get(hash);
      let value: LiveApiKey | null;
      if (hit && hit.expiresAt > Date.now()) {
        cache.delete(hash);
        cache.set(hash, hit);
        value = hit.value;
      } else {
        if (hit) cache.delete(hash);
        let p = inflight.get(hash);
        if (!p) {
          const guard = authOpts.guard;
          p = (guard ? guardedLookup(guard, hash) : lookup(hash)).finally(() => inflight.delete(hash));
          inflight.set(hash, p);
        }
        value = await p;
      }
      if (value) touch(value);
      return value;
    },
    async close() {
      if (closed) return;
      closed = true;
      flush();
      await Promise.allSettled([...pendingTouches]);
      if (sub) {
        sub.removeAllListeners('message');
        await sub.quit().catch(() => sub.disconnect());
      }
    },
  };
}
