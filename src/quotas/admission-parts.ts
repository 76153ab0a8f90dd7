/**
 * The long-lived pieces one admission service is built from (created once per process): the Redis
 * guard, the lease holders for rate, concurrency and quotas, the limits cache, idempotency marks,
 * pub/sub and the background timers. The per-request steps (admission-steps.ts) use them.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/index.js';
import type { PgPools } from '../db/index.js';
import { IdempotencyMarks } from '../idempotency/index.js';
import type { Logger, Redis } from '../shared/index.js';
import { ConcurrencyLimiter } from './concurrency.js';
import type { LimitScope } from './decisions.js';
import { quotaKeys } from './keys.js';
import { LimitsCache, postgresLimits, type LoadLimits } from './limits.js';
import { billingPeriod, type BillingPeriod } from './period.js';
import { QuotaCounters, type Counter } from './quota-counter.js';
import { RateLimiter } from './rate-limiter.js';
import { LeaseReclaim } from './reclaim.js';
import { RedisGuard } from './redis-guard.js';
import { subscribeChannels } from './subscriber.js';
import type { Clock, EffectiveLimits, Notify, ScopeLimits } from './types.js';

export type AdmissionConfig = Pick<
  Config,
  | 'REDIS_PREFIX'
  | 'QUOTA_REDIS_FAILURE_MODE'
  | 'QUOTA_SYNC_INTERVAL_MS'
  | 'QUOTA_LEASE_TTL_MS'
  | 'QUOTA_REDIS_TIMEOUT_MS'
  | 'IDEMPOTENCY_WINDOW_SECONDS'
  | 'QUOTA_LIMITS_CACHE_TTL_MS'
>;

export interface AdmissionDeps {
  config: AdmissionConfig;
  redis: Redis;
  pools: Pick<PgPools, 'app'>;
  logger: Logger;
  /** Called once per (tenant or key, meter, period, threshold) when use crosses a soft threshold. */
  notify?: Notify | undefined;
  /** Test seams. */
  clock?: Clock;
  loadLimits?: LoadLimits;
  /** How long a finished request's concurrency slot stays with this process before going back (ms). */
  concurrencyHoldMs?: number;
  /** Log Redis trouble at most this often (ms). */
  warnIntervalMs?: number;
  /**
   * After a limit was reached, how long (ms) this process asks no other process again for that
   * lease and every process keeps no idle lease of it (default 1000).
   */
  reclaimQuietMs?: number;
}

export interface AdmissionParts {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly guard: RedisGuard;
  readonly rates: RateLimiter;
  readonly slots: ConcurrencyLimiter;
  readonly counters: QuotaCounters;
  readonly limits: LimitsCache;
  readonly marks: IdempotencyMarks;
  /** The billing period of `now` for these limits (cached per tenant). */
  periodFor(l: EffectiveLimits, now: number): BillingPeriod;
  /** The counters of a scope's quotas for a period (cached on the limits object: the hot path builds no keys). */
  scopeCounters(s: LimitScope, tenantId: string, period: BillingPeriod): Counter[];
  /** Stops timers and subscriptions, gives leases back. */
  close(): Promise<void>;
}

export function createAdmissionParts(deps: AdmissionDeps): AdmissionParts {
  const clock = deps.clock ?? Date.now;
  const { config, logger } = deps;
  const keys = quotaKeys(config.REDIS_PREFIX);
  const procId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  const guard = new RedisGuard(deps.redis, {
    timeoutMs: config.QUOTA_REDIS_TIMEOUT_MS,
    retryAfterMs: 1000,
    warnIntervalMs: deps.warnIntervalMs ?? 30_000,
    logger,
    clock,
    failureMode: config.QUOTA_REDIS_FAILURE_MODE,
  });
  // Idle leases come back from other processes before a refusal (reclaim.ts).
  // The wait for answers is only spent when a process does not answer (crashed, stalled).
  const reclaim = new LeaseReclaim({ guard, channel: keys.reclaimChannel, procId, clock, timeoutMs: Math.max(1000, 5 * config.QUOTA_REDIS_TIMEOUT_MS), quietMs: deps.reclaimQuietMs ?? 1000 });
  const rates = new RateLimiter({ guard, key: keys.rate, clock, reclaim });
  const slots = new ConcurrencyLimiter({ guard, key: keys.concurrency, clock, procId, leaseTtlMs: config.QUOTA_LEASE_TTL_MS, holdMs: deps.concurrencyHoldMs ?? 200, reclaim });
  const counters = new QuotaCounters({ guard, keys, clock, procId, leaseTtlMs: config.QUOTA_LEASE_TTL_MS, syncIntervalMs: config.QUOTA_SYNC_INTERVAL_MS, logger, notify: deps.notify, reclaim });
  const limits = new LimitsCache({ load: deps.loadLimits ?? postgresLimits(deps), clock, ttlMs: config.QUOTA_LIMITS_CACHE_TTL_MS, logger });
  const subscription = subscribeChannels(deps.redis, {
    channels: {
      [keys.limitsChannel]: (tenantId) => limits.invalidate(tenantId),
      [keys.reclaimChannel]: (message) => reclaim.onMessage(message),
    },
    logger,
    // Limit changes published while disconnected were missed: drop every cached limit.
    onSubscribed: () => {
      limits.clear();
      reclaim.setListening(true);
    },
    onLost: () => reclaim.setListening(false),
  });
  const marks = new IdempotencyMarks({ redis: guard, prefix: config.REDIS_PREFIX, windowSeconds: config.IDEMPOTENCY_WINDOW_SECONDS });

  // Counters sync on staggered schedules: a tick every fifth of the interval handles those due.
  const syncTimer = setInterval(() => void counters.flush().catch(() => {}), Math.max(20, Math.floor(config.QUOTA_SYNC_INTERVAL_MS / 5)));
  const sweepTimer = setInterval(() => void rates.sweep().catch(() => {}), 1000);
  syncTimer.unref();
  sweepTimer.unref();

  const periods = new Map<string, { tz: string; anchor: number; period: BillingPeriod }>();
  function periodFor(l: EffectiveLimits, now: number): BillingPeriod {
    const p = periods.get(l.tenantId);
    if (p && p.tz === l.timeZone && p.anchor === l.billingAnchorDay && now >= p.period.start.getTime() && now < p.period.end.getTime()) return p.period;
    const period = billingPeriod({ at: now, anchorDay: l.billingAnchorDay, timeZone: l.timeZone });
    periods.set(l.tenantId, { tz: l.timeZone, anchor: l.billingAnchorDay, period });
    return period;
  }

  // A new limits object (plan change) or period rebuilds a scope's counters.
  const byLimits = new WeakMap<ScopeLimits, { scope: string; period: BillingPeriod; counters: Counter[] }>();
  function scopeCounters(s: LimitScope, tenantId: string, period: BillingPeriod): Counter[] {
    const hit = byLimits.get(s.limits);
    if (hit && hit.period === period && hit.scope === s.id && hit.counters.every((c) => !c.retired)) return hit.counters;
    const list = s.limits.quotas.map((q) => counters.counter(s.id, q, { tenantId, apiKeyId: s.apiKeyId, period }));
    byLimits.set(s.limits, { scope: s.id, period, counters: list });
    return list;
  }

  async function close(): Promise<void> {
    marks.flush();
    clearInterval(syncTimer);
    clearInterval(sweepTimer);
    reclaim.close();
    await subscription.close();
    await Promise.all([rates.close(), slots.close(), counters.close()]).catch(() => {});
  }

  return { clock, logger, guard, rates, slots, counters, limits, marks, periodFor, scopeCounters, close };
}
