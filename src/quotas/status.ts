/**
 * Quota status for the API: each meter's limit, use, remaining and reset time for the tenant's
 * current billing period (and, for an API key with its own caps, the key's), plus the rate and
 * concurrency limits with their current state. Reads the shared Redis counters (the same ones
 * admission enforces); where Redis has no counter for the period (nothing admitted since a
 * Redis restart) it counts the period from ClickHouse when a client is given.
 */
import type { ClickHouse } from '../clickhouse/index.js';
import type { Config } from '../config/index.js';
import type { PgPools } from '../db/index.js';
import { notFound, type Redis } from '../shared/index.js';
import { keyScope, quotaKeys, tenantScope, unitScale } from './keys.js';
import { postgresLimits, type LoadLimits } from './limits.js';
import { billingPeriod } from './period.js';
import { billableUsage, usageOf, type KeyUsage } from './reconcile.js';
import type { Clock, Meter, ScopeLimits } from './types.js';

export interface MeterStatus {
  meter: Meter;
  scope: 'tenant' | 'api_key';
  apiKeyId: string | null;
  /** null = unlimited. Compute meters in milliseconds. */
  limit: number | null;
  used: number;
  remaining: number | null;
  hard: boolean;
  softThresholds: number[];
  resetAt: Date;
}

export interface QuotaStatus {
  tenantId: string;
  planCode: string;
  priorityTier: number;
  timeZone: string;
  period: { start: Date; end: Date };
  meters: MeterStatus[];
  rate: {
    limitPerSecond: number;
    burst: number;
    /** Tokens left in the shared bucket now (requests that may be sent at once). */
    remaining: number;
    maxConcurrency: number;
    /** Requests in flight across all processes. */
    inFlight: number;
  };
  /** The API key's own admission caps, when it has any. */
  keyRate: { apiKeyId: string; limitPerSecond: number | null; burst: number | null; maxConcurrency: number | null } | null;
}

export interface QuotaStatusDeps {
  config: Pick<Config, 'REDIS_PREFIX'>;
  redis: Redis;
  pools: Pick<PgPools, 'app'>;
  clickhouse?: ClickHouse | undefined;
  clock?: Clock;
  loadLimits?: LoadLimits;
}

export async function getQuotaStatus(deps: QuotaStatusDeps, q: { tenantId: string; apiKeyId?: string; at?: Date }): Promise<QuotaStatus> {
  const now = q.at?.getTime() ?? (deps.clock ?? Date.now)();
  const limits = await (deps.loadLimits ?? postgresLimits(deps))({ tenantId: q.tenantId, apiKeyId: q.apiKeyId, at: new Date(now) });
  if (!limits) throw notFound('tenant not found or without a plan');
  const period = billingPeriod({ at: now, anchorDay: limits.billingAnchorDay, timeZone: limits.timeZone });
  const keys = quotaKeys(deps.config.REDIS_PREFIX);
  let fromClickHouse: KeyUsage[] | undefined;

  const scopeMeters = async (scope: string, apiKeyId: string | null, l: ScopeLimits): Promise<MeterStatus[]> =>
    Promise.all(
      l.quotas.map(async (ql) => {
        const scale = unitScale(ql.meter);
        const raw = await deps.redis.hget(keys.used(scope, ql.meter, period.key), 'total');
        let units = raw === null ? null : Number(raw);
        if (units === null && deps.clickhouse) {
          fromClickHouse ??= await billableUsage(deps.clickhouse, { tenantId: q.tenantId, from: period.start, to: new Date(Math.min(now + 1, period.end.getTime())) });
          units = usageOf(apiKeyId ? fromClickHouse.filter((r) => r.apiKeyId === apiKeyId) : fromClickHouse, ql.meter);
        }
        const used = Math.max(0, Math.floor((units ?? 0) / scale));
        const limit = Number.isFinite(ql.limit) ? ql.limit : null;
        return { meter: ql.meter, scope: apiKeyId ? 'api_key' : 'tenant', apiKeyId, limit, used, remaining: limit === null ? null : Math.max(0, limit - used), hard: ql.hard, softThresholds: ql.softThresholds, resetAt: period.end } as MeterStatus;
      }),
    );

  const tScope = tenantScope(q.tenantId);
  const meterRows = await scopeMeters(tScope, null, limits.tenant);
  if (limits.key && q.apiKeyId) meterRows.push(...(await scopeMeters(keyScope(q.tenantId, q.apiKeyId), q.apiKeyId, limits.key)));

  const rate = limits.tenant.rate ?? { rps: 0, burst: 0 };
  const [bucket, slots] = await Promise.all([deps.redis.hmget(keys.rate(tScope), 't', 'ts'), deps.redis.hgetall(keys.concurrency(tScope))]);
  let remaining = rate.burst;
  if (bucket[0] !== null && bucket[1] !== null) remaining = Math.floor(Math.min(rate.burst, Number(bucket[0]) + (Math.max(0, now - Number(bucket[1])) * rate.rps) / 1000));
  let inFlight = 0;
  for (const [field, value] of Object.entries(slots)) {
    if (field.startsWith('x:')) continue;
    if (Number(slots[`x:${field}`] ?? 0) >= now) inFlight += Number(value);
  }
  return {
    tenantId: q.tenantId,
    planCode: limits.planCode,
    priorityTier: limits.priorityTier,
    timeZone: limits.timeZone,
    period: { start: period.start, end: period.end },
    meters: meterRows,
    rate: { limitPerSecond: rate.rps, burst: rate.burst, remaining, maxConcurrency: limits.tenant.concurrency ?? 0, inFlight },
    keyRate:
      limits.key && q.apiKeyId && (limits.key.rate || limits.key.concurrency !== null)
        ? { apiKeyId: q.apiKeyId, limitPerSecond: limits.key.rate?.rps ?? null, burst: limits.key.rate?.burst ?? null, maxConcurrency: limits.key.concurrency }
        : null,
  };
}
