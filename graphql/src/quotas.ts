/**
 * Quota status for the `quotas` query: the quotas module's getQuotaStatus (shared Redis counters,
 * ClickHouse when Redis has none), unless the caller injects another implementation.
 */
import { getQuotaStatus } from '../../src/quotas/index.js';
import type { ApiServerDeps } from './context.js';

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

export function defaultQuotaStatus(deps: Pick<ApiServerDeps, 'config' | 'redis' | 'pools' | 'clickhouse'>): QuotaStatusFn {
  return (q) => getQuotaStatus({ config: deps.config, redis: deps.redis, pools: deps.pools, clickhouse: deps.clickhouse }, q);
}
