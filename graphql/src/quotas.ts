/**
 * Quota status for the `quotas` query: the quotas module's getQuotaStatus (shared Redis counters,
 * ClickHouse when Redis has none), unless the caller injects another implementation.
 */
import { redisLimitsAnnouncer, type LimitsAnnouncer } from '../../src/plans/index.js';
import { getQuotaStatus, type QuotaStatusDeps } from '../../src/quotas/index.js';
import type { Logger, Redis } from '../../src/shared/index.js';

export interface MeterStatus {
  meter: string;
  scope?: 'tenant' | 'api_key';
  apiKeyId?: string | null;
  limit: number | null;
  used: number;
  remaining: number | null;
  hard: boolean;
  softThresholds?: number[];
  resetAt: Date;
}

export interface QuotaStatusView {
  period: { start: Date; end: Date };
  meters: MeterStatus[];
  rate: { limitPerSecond: number; burst: number; maxConcurrency: number; remaining?: number; inFlight?: number };
}

/** Same shape as src/quotas getQuotaStatus (bound to its deps). */
export type QuotaStatusFn = (q: { tenantId: string; apiKeyId?: string }) => Promise<QuotaStatusView>;

// Narrow parameter types rather than context.ts's ApiServerDeps/ApiContext: context.ts imports this file.
export function defaultQuotaStatus(deps: Pick<QuotaStatusDeps, 'config' | 'redis' | 'pools' | 'clickhouse'>): QuotaStatusFn {
  return (q) => getQuotaStatus({ config: deps.config, redis: deps.redis, pools: deps.pools, clickhouse: deps.clickhouse }, q);
}

/**
 * The announcer a limits-changing mutation hands to the domain write (setTenantPlan,
 * setQuotaOverride), which announces after its commit: every inference replica drops the tenant's
 * cached limits at once. The change is already committed, so a Redis failure is logged, not
 * returned to the caller: the cache TTL (QUOTA_LIMITS_CACHE_TTL_MS) still bounds staleness.
 */
export function limitsAnnouncer(ctx: { services: { redis: Redis; config: { REDIS_PREFIX: string }; logger: Logger }; requestId: string }): LimitsAnnouncer {
  const { redis, config, logger } = ctx.services;
  return redisLimitsAnnouncer({
    redis,
    config,
    onFailure: (err, tenantId) => logger.warn({ err, tenantId, requestId: ctx.requestId }, 'graphql: could not announce a limits change; replicas pick it up within QUOTA_LIMITS_CACHE_TTL_MS'),
  });
}
