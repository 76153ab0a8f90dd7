/**
 * Announcing a limits change. Admission caches each tenant's limits (src/quotas LimitsCache); a
 * write that changes them — a plan change (src/tenants setTenantPlan) or a quota override
 * (setQuotaOverride) — announces it itself, after its commit, so every process drops the
 * tenant's entries at once instead of after QUOTA_LIMITS_CACHE_TTL_MS. The writers require an
 * announcer in their deps, so no caller can forget it; the caller decides how a failed
 * announcement is reported (the change is committed: the cache TTL still bounds staleness).
 */
import type { Redis } from '../shared/index.js';

/** Announces that a tenant's limits changed. Never rejects: failures go to `onFailure`. */
export type LimitsAnnouncer = (tenantId: string) => Promise<void>;

/** The pub/sub channel (message: the tenant id) admission subscribes to. */
export const limitsChangedChannel = (prefix: string): string => `${prefix}:quota:limits-changed`;

export function redisLimitsAnnouncer(deps: { redis: Pick<Redis, 'publish'>; config: { REDIS_PREFIX: string }; onFailure: (err: Error, tenantId: string) => void }): LimitsAnnouncer {
  return async (tenantId) => {
    try {
      await deps.redis.publish(limitsChangedChannel(deps.config.REDIS_PREFIX), tenantId);
    } catch (err) {
      deps.onFailure(err as Error, tenantId);
    }
  };
}
