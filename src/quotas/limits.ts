/**
 * Effective limits for (tenant, API key), cached in process so admission does no Postgres round
 * trip per request. Entries are fresh for `ttlMs`; a stale entry is served while one refresh
 * runs in the background. A plan or override change anywhere is announced on a Redis pub/sub
 * channel by the write itself (src/plans limits-changes.ts) and every process drops that tenant's entries at once, so
 * the next request sees the new limits.
 */
import { getEffectiveLimits } from '../plans/index.js';
import type { PgPools } from '../db/index.js';
import type { Logger } from '../shared/index.js';
import type { Clock, EffectiveLimits } from './types.js';

export type LoadLimits = (q: { tenantId: string; apiKeyId?: string | undefined; at?: Date }) => Promise<EffectiveLimits | null>;

/** Reads limits from Postgres through the plans module. */
export function postgresLimits(deps: { pools: Pick<PgPools, 'app'> }): LoadLimits {
  return async (q) => {
    return getEffectiveLimits({ pools: deps.pools }, { tenantId: q.tenantId, apiKeyId: q.apiKeyId ?? null, ...(q.at ? { at: q.at } : {}) });
  };
}

interface Entry {
  value: EffectiveLimits | null;
  fetchedAt: number;
  refreshing: Promise<EffectiveLimits | null> | null;
}

export class LimitsCache {
  /** tenant id -> API key id ('' for none) -> entry: no key strings built per request. */
  private readonly entries = new Map<string, Map<string, Entry>>();
  private count = 0;
  private generation = 0;

  constructor(
    private readonly deps: { load: LoadLimits; clock: Clock; ttlMs: number; logger: Logger; maxEntries?: number },
  ) {}

  /** Cached limits; synchronous on a hit. Rejects only when nothing is cached and loading fails. */
  get(tenantId: string, apiKeyId: string | undefined): EffectiveLimits | null | Promise<EffectiveLimits | null> {
    const id = apiKeyId ?? '';
    const e = this.entries.get(tenantId)?.get(id);
    const now = this.deps.clock();
    if (e && e.fetchedAt >= 0) {
      if (now - e.fetchedAt > this.deps.ttlMs && !e.refreshing) this.load(id, tenantId, apiKeyId, e).catch(() => {});
      return e.value;
    }
    if (e?.refreshing) return e.refreshing;
    return this.load(id, tenantId, apiKeyId, undefined);
  }

  private load(id: string, tenantId: string, apiKeyId: string | undefined, stale: Entry | undefined): Promise<EffectiveLimits | null> {
    const entry: Entry = stale ?? { value: null, fetchedAt: -1, refreshing: null };
    const gen = this.generation;
    const p = this.deps.load({ tenantId, apiKeyId }).then(
      (value) => {
        entry.refreshing = null;
        // An invalidation that arrived while loading wins: do not cache what may be old.
        if (gen === this.generation) {
          entry.value = value;
          entry.fetchedAt = this.deps.clock();
        }
        return value;
      },
      (err) => {
        entry.refreshing = null;
        if (entry.fetchedAt < 0) this.entries.get(tenantId)?.delete(id);
        else this.deps.logger.warn({ err: (err as Error).message, tenantId }, 'limits refresh failed; keeping the cached limits');
        throw err;
      },
    );
    entry.refreshing = p;
    if (!stale) {
      if (this.count >= (this.deps.maxEntries ?? 100_000)) this.clear();
      let m = this.entries.get(tenantId);
      if (!m) this.entries.set(tenantId, (m = new Map()));
      m.set(id, entry);
      this.count++;
    }
    return p;
  }

  /** Drops a tenant's cached limits (all its keys). */
  invalidate(tenantId: string): void {
    this.generation++;
    this.count -= this.entries.get(tenantId)?.size ?? 0;
    this.entries.delete(tenantId);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.count = 0;
  }
}
