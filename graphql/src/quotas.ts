/**
 * Quota status for the `quotas` query. Uses the quotas engineer's getQuotaStatus when wired in;
 * otherwise computes it from the effective limits (src/plans) and this period's billable usage
 * from the hourly rollup.
 */
import { billingPeriod } from '../../src/quotas/period.js';
import { getEffectiveLimits, meters } from '../../src/plans/index.js';
import { notFound } from '../../src/shared/errors.js';
import { billableTotals } from './data/clickhouse.js';
import type { Services } from './context.js';

export interface MeterStatus {
  meter: string;
  limit: number | null;
  used: number;
  remaining: number | null;
  hard: boolean;
  resetAt: Date;
}

export interface QuotaStatusView {
  period: { start: Date; end: Date };
  meters: MeterStatus[];
  rate: { limitPerSecond: number; burst: number; maxConcurrency: number };
}

/** Shape the lead wires from src/quotas (adapted in app wiring if it differs). */
export type QuotaStatusFn = (q: { tenantId: string; at?: Date }) => Promise<QuotaStatusView>;

export async function quotaStatusFallback(services: Services, q: { tenantId: string; at?: Date }): Promise<QuotaStatusView> {
  const at = q.at ?? new Date();
  const limits = await getEffectiveLimits(services, { tenantId: q.tenantId, at });
  if (!limits) throw notFound('tenant not found');
  const period = billingPeriod({ at, anchorDay: limits.billingAnchorDay, timeZone: limits.timezone });
  // Hour buckets: a period starting off the hour (half-hour time zones) is counted from the hour before.
  const from = new Date(Math.floor(period.start.getTime() / 3_600_000) * 3_600_000);
  const rows = await billableTotals(services.clickhouse, { tenantId: q.tenantId, from, to: period.end });
  let requests = 0n;
  let items = 0n;
  let cpuUs = 0n;
  let cudaUs = 0n;
  for (const r of rows) {
    requests += r.requests;
    items += r.items;
    if (r.device.startsWith('cuda')) cudaUs += r.compute_us;
    else cpuUs += r.compute_us;
  }
  const used: Record<string, bigint> = { requests, items, compute_ms_cpu: cpuUs / 1000n, compute_ms_cuda: cudaUs / 1000n };
  return {
    period: { start: period.start, end: period.end },
    meters: meters.map((m) => {
      const limit = limits.quotas[m];
      const u = Number(used[m] ?? 0n);
      return { meter: m, limit: limit?.limit ?? null, used: u, remaining: limit ? Math.max(0, limit.limit - u) : null, hard: limit?.hard ?? false, resetAt: period.end };
    }),
    rate: { limitPerSecond: limits.rateLimitRps, burst: limits.burst, maxConcurrency: limits.maxConcurrency },
  };
}
