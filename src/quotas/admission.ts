/**
 * Admission control before any compute: rate limit, concurrency cap and monthly quotas for the
 * tenant and (when it has its own caps) the API key, with IETF RateLimit headers.
 *
 * Every check spends from process-local leases of shared Redis state (see rate-limiter.ts,
 * concurrency.ts, quota-counter.ts), so an admitted request normally costs microseconds and
 * no round trip, while all processes together stay within each limit.
 */
import { randomUUID } from 'node:crypto';
import type { Admission, AdmissionDecision, AdmissionRequest, AdmissionTicket, RateLimitHeaders } from './contract.js';
import type { Config } from '../config/index.js';
import type { PgPools } from '../db/index.js';
import type { Logger, Redis } from '../shared/index.js';
import { ConcurrencyLimiter } from './concurrency.js';
import { conflict, quotaExhausted, rateHeaders, rateLimited, tooManyConcurrent, unavailable, type LimitScope } from './decisions.js';
import { keyScope, quotaKeys, tenantScope } from './keys.js';
import { LimitsCache, postgresLimits, type LoadLimits } from './limits.js';
import { billingPeriod, type BillingPeriod } from './period.js';
import { QuotaCounters, type Counter } from './quota-counter.js';
import { RateLimiter, type RateCheck } from './rate-limiter.js';
import { LeaseReclaim } from './reclaim.js';
import { RedisGuard, RedisUnavailableError } from './redis-guard.js';
import { subscribeChannels } from './subscriber.js';
import { IdempotencyMarks, NO_FINGERPRINT, verdict, type MarkListener, type QueuedMark } from './idempotency.js';
import type { Clock, EffectiveLimits, Meter, Notify, ScopeLimits } from './types.js';

export type AdmissionConfig = Pick<
  Config,
  | 'REDIS_PREFIX'
  | 'QUOTA_REDIS_FAILURE_MODE'
  | 'QUOTA_SYNC_INTERVAL_MS'
  | 'QUOTA_LEASE_TTL_MS'
  | 'QUOTA_REDIS_TIMEOUT_MS'
  | 'QUOTA_IDEMPOTENCY_WINDOW_SECONDS'
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

export interface AdmissionService extends Admission {
  /** Sends pending idempotency marks and pushes local use to Redis now (tests, shutdown). */
  flush(): Promise<void>;
  /** Drops cached limits of a tenant in this process (pub/sub does this for every process). */
  invalidate(tenantId: string): void;
  close(): Promise<void>;
}

type Scope = LimitScope;

interface Charge {
  counter: Counter;
  units: number;
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null)?.then === 'function';

export function createAdmission(deps: AdmissionDeps): AdmissionService {
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
  const marks = new IdempotencyMarks({ guard, keys, ttlSeconds: config.QUOTA_IDEMPOTENCY_WINDOW_SECONDS });
  const periods = new Map<string, { tz: string; anchor: number; period: BillingPeriod }>();
  let closing: Promise<void> | undefined;

  // Counters sync on staggered schedules: a tick every fifth of the interval handles those due.
  const syncTimer = setInterval(() => void counters.flush().catch(() => {}), Math.max(20, Math.floor(config.QUOTA_SYNC_INTERVAL_MS / 5)));
  const sweepTimer = setInterval(() => void rates.sweep().catch(() => {}), 1000);
  syncTimer.unref();
  sweepTimer.unref();

  function periodFor(l: EffectiveLimits, now: number): BillingPeriod {
    const p = periods.get(l.tenantId);
    if (p && p.tz === l.timeZone && p.anchor === l.billingAnchorDay && now >= p.period.start.getTime() && now < p.period.end.getTime()) return p.period;
    const period = billingPeriod({ at: now, anchorDay: l.billingAnchorDay, timeZone: l.timeZone });
    periods.set(l.tenantId, { tz: l.timeZone, anchor: l.billingAnchorDay, period });
    return period;
  }

  async function admit(req: AdmissionRequest): Promise<AdmissionDecision> {
    const l = await limitsOf(req);
    if (!('tenant' in l)) return l;
    const scopes: Scope[] = [{ id: tenantScope(req.tenantId), apiKeyId: undefined, limits: l.tenant }];
    if (l.key) scopes.push({ id: keyScope(req.tenantId, req.apiKeyId), apiKeyId: req.apiKeyId, limits: l.key });

    // What this admission took so far, given back if it ends refused.
    const taken: Array<{ scope: string; degraded: boolean }> = [];
    const held: string[] = [];
    const charges: Charge[] = [];
    let owned = false; // this admission set the Redis mark: undo it if the request is refused
    let minute = Math.floor(clock() / 60_000);
    const undo = () => {
      for (const t of taken.splice(0)) rates.refund(t.scope, t.degraded);
      releaseSlots(held);
      refund(charges, minute);
      if (owned) marks.unmark(req.tenantId, req.eventId);
    };
    const refuse = (d: AdmissionDecision): AdmissionDecision => (undo(), d);
    try {
      // 1. Request rate (token buckets).
      const rate = await takeTokens(scopes, taken);
      if ('allowed' in rate) return refuse(rate);
      const headers = rate.headers;

      // 2. Idempotency, as far as this process knows: a retry is not charged, a reused id is refused.
      const now = clock();
      minute = Math.floor(now / 60_000);
      const fp = req.fingerprint;
      const recalled = marks.recall(req.tenantId, req.eventId, now);
      if (verdict(recalled, fp) === 'conflict') return refuse(conflict(req.eventId, headers));
      let duplicate = recalled !== undefined;

      // 3. Concurrent requests.
      const full = await takeSlots(scopes, held);
      if (full) return refuse(tooManyConcurrent(full, headers));

      // 4. A client-chosen id (it has a fingerprint) new to this process: Redis decides before
      // anything is charged or served, so a reused id is never served and a retry never charged.
      if (!duplicate && fp !== undefined) {
        const v = await claim(req, fp);
        if (v === 'conflict') return refuse(conflict(req.eventId, headers));
        if (v === 'unavailable') return refuse(unavailable('admission control is unavailable; try again shortly'));
        if (v === 'retry') duplicate = true;
        else if (v === 'new') owned = true;
      }

      // 5. Monthly quotas. A retried event id is not charged again.
      const compute: Counter[] = [];
      const short = await chargeQuotas(req, l, scopes, { now, minute, duplicate, charges, compute });
      if (short) return refuse(quotaExhausted(short.counter, short.scope, headers, clock()));
      const ticket = new Ticket(req, minute, held, charges, compute, duplicate);
      if (!duplicate) {
        marks.remember(req.tenantId, req.eventId, fp ?? NO_FINGERPRINT, now);
        if (owned) ticket.mark = 'owned';
        else if (fp === undefined && guard.up) ticket.markInBackground();
      }
      return { allowed: true, headers, priority: l.priorityTier, weight: l.priorityTier, ticket };
    } catch (err) {
      undo();
      if (err instanceof RedisUnavailableError) return unavailable('admission control is unavailable; try again shortly');
      throw err;
    }
  }

  /** A token from every scope's bucket (recorded in `taken`); the tightest bucket goes in the headers. */
  async function takeTokens(scopes: Scope[], taken: Array<{ scope: string; degraded: boolean }>): Promise<{ headers: RateLimitHeaders } | AdmissionDecision> {
    let tightest: RateCheck | undefined;
    for (const s of scopes) {
      if (!s.limits.rate) continue;
      const r0 = rates.check(s.id, s.limits.rate.rps, s.limits.rate.burst);
      const r = isPromise(r0) ? await r0 : r0;
      if (!r.ok) return rateLimited(r, s);
      taken.push({ scope: s.id, degraded: r.degraded });
      if (!tightest || r.remaining / r.limit < tightest.remaining / tightest.limit) tightest = r;
    }
    return { headers: rateHeaders(tightest) };
  }

  /** A concurrency slot in every capped scope (recorded in `held`); the scope at its cap, if any. */
  async function takeSlots(scopes: Scope[], held: string[]): Promise<Scope | undefined> {
    for (const s of scopes) {
      if (s.limits.concurrency === null) continue;
      const ok0 = slots.acquire(s.id, s.limits.concurrency);
      if (!(isPromise(ok0) ? await ok0 : ok0)) return s;
      held.push(s.id);
    }
    return undefined;
  }

  /** The cached limits, or the refusal when there are none (no plan) or they cannot be loaded. */
  async function limitsOf(req: AdmissionRequest): Promise<EffectiveLimits | AdmissionDecision> {
    const got = limits.get(req.tenantId, req.apiKeyId);
    let l: EffectiveLimits | null;
    try {
      l = isPromise(got) ? await got : got;
    } catch (err) {
      logger.warn({ err: (err as Error).message, tenantId: req.tenantId }, 'cannot load limits');
      return unavailable('limits are unavailable; try again shortly');
    }
    return l ?? { allowed: false, status: 402, code: 'QUOTA_EXHAUSTED', message: 'the tenant has no active plan', headers: {}, details: { reason: 'no_plan' } };
  }

  /**
   * Reserves hard requests/items units (pushed to `charges`) and checks hard compute limits
   * (counters pushed to `compute`, charged on release). Returns the quota that is used up, if any.
   */
  async function chargeQuotas(
    req: AdmissionRequest,
    l: EffectiveLimits,
    scopes: Scope[],
    at: { now: number; minute: number; duplicate: boolean; charges: Charge[]; compute: Counter[] },
  ): Promise<{ counter: Counter; scope: Scope } | undefined> {
    const period = periodFor(l, at.now);
    for (const s of scopes) {
      for (const c of scopeCounters(s, req.tenantId, period)) {
        const q = c.spec;
        if (q.meter === 'requests' || q.meter === 'items') {
          const units = q.meter === 'requests' ? 1 : req.items;
          if (at.duplicate || units === 0) continue;
          if (c.leased) {
            const ok0 = counters.reserve(c, units, at.minute);
            if (!(isPromise(ok0) ? await ok0 : ok0)) return { counter: c, scope: s };
          } else counters.record(c, units, at.minute);
          at.charges.push({ counter: c, units });
        } else {
          if (q.hard && q.meter === (req.device === 'cuda' ? 'compute_ms_cuda' : 'compute_ms_cpu')) {
            const ok0 = counters.check(c);
            if (!(isPromise(ok0) ? await ok0 : ok0)) return { counter: c, scope: s };
          }
          at.compute.push(c);
        }
      }
    }
    return undefined;
  }

  // The counters of a scope's quotas for a period, remembered on the (cached) limits object so
  // the hot path builds no keys; a new limits object (plan change) or period rebuilds them.
  const byLimits = new WeakMap<ScopeLimits, { scope: string; period: BillingPeriod; counters: Counter[] }>();
  function scopeCounters(s: Scope, tenantId: string, period: BillingPeriod): Counter[] {
    const hit = byLimits.get(s.limits);
    if (hit && hit.period === period && hit.scope === s.id && hit.counters.every((c) => !c.retired)) return hit.counters;
    const list = s.limits.quotas.map((q) => counters.counter(s.id, q, { tenantId, apiKeyId: s.apiKeyId, period }));
    byLimits.set(s.limits, { scope: s.id, period, counters: list });
    return list;
  }

  function releaseSlots(held: string[]): void {
    for (const id of held) slots.release(id);
    held.length = 0;
  }

  function refund(charges: Charge[], minute: number): void {
    for (const ch of charges) counters.refund(ch.counter, ch.units, minute, true);
    charges.length = 0;
  }

  /**
   * Sets the mark of a fingerprinted request and waits for Redis' answer. Redis down: fail-open
   * admits it as new (local map only), fail-closed refuses.
   */
  async function claim(req: AdmissionRequest, fp: string): Promise<'new' | 'retry' | 'conflict' | 'unmarked' | 'unavailable'> {
    let old: string;
    try {
      old = await marks.claim(req.tenantId, req.eventId, fp);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      guard.degraded('idempotency');
      return guard.failureMode === 'closed' ? 'unavailable' : 'unmarked';
    }
    // Another request's mark is not remembered locally: if that request fails its mark goes, and
    // only Redis would know.
    return verdict(old, fp);
  }

  /**
   * Where this ticket's idempotency mark is: none; queued in the background batch; sent and not
   * answered yet; set by this ticket (owned); another request's (other); unknown (the call failed).
   */
  type MarkState = 'none' | 'queued' | 'sent' | 'owned' | 'other' | 'unknown';

  class Ticket implements AdmissionTicket, MarkListener {
    mark: MarkState = 'none';
    private queued: QueuedMark | null = null;
    private released = false;
    private failed = false;
    private refunded = false;
    constructor(
      private readonly req: AdmissionRequest,
      private readonly minute: number,
      private readonly held: string[],
      private readonly charges: Charge[],
      private readonly compute: Counter[],
      private duplicate: boolean,
    ) {}

    /** A request without a fingerprint: charged now, marked within 10 ms; a late "seen" refunds it. */
    markInBackground(): void {
      this.mark = 'queued';
      this.queued = marks.markLater(this.req.tenantId, this.req.eventId, NO_FINGERPRINT, this);
    }

    onMark(old: string | null): void {
      this.queued = null;
      if (old === null) this.mark = 'unknown';
      else if (old === '') this.mark = 'owned';
      else {
        // Another process already charged this event id: give back what this admission charged.
        this.mark = 'other';
        this.duplicate = true;
        this.refundOnce();
      }
      // The request failed while its mark was in flight: the mark must not outlive it.
      if (this.failed) this.dropMark();
    }

    private refundOnce(): void {
      if (this.refunded) return;
      this.refunded = true;
      refund(this.charges, this.minute);
    }

    /** Failed request: its mark goes, wherever it is, so a retry counts as a new request. */
    private dropMark(): void {
      if (this.mark === 'queued' && this.queued) {
        // Still in the pending batch: take it out (never sent, nothing to delete). Already sent:
        // onMark calls back here once the answer arrives.
        if (this.queued.sent) this.mark = 'sent';
        else {
          this.queued.cancelled = true;
          this.mark = 'none';
        }
      }
      if (this.mark === 'owned' || this.mark === 'unknown') {
        marks.unmark(this.req.tenantId, this.req.eventId);
        this.mark = 'none';
      }
    }

    release(outcome: { computeUs: number; items: number; ok: boolean; device?: 'cpu' | 'cuda' }): void {
      if (this.released) return;
      this.released = true;
      releaseSlots(this.held);
      if (this.duplicate) return;
      if (!outcome.ok) {
        // Failed work is not billed, so it does not use quota; a retry of it must be charged.
        this.failed = true;
        this.refundOnce();
        marks.forget(this.req.tenantId, this.req.eventId);
        this.dropMark();
        return;
      }
      const itemsDelta = outcome.items - this.req.items;
      if (itemsDelta !== 0)
        for (const ch of this.charges)
          if (ch.counter.spec.meter === 'items') {
            counters.record(ch.counter, itemsDelta, this.minute);
            ch.units += itemsDelta; // a late duplicate verdict refunds what was actually charged
          }
      const meter: Meter = outcome.device === 'cuda' ? 'compute_ms_cuda' : 'compute_ms_cpu';
      const us = Math.max(0, Math.round(outcome.computeUs));
      for (const c of this.compute) if (c.spec.meter === meter) counters.record(c, us, this.minute);
    }
  }

  return {
    admit,
    flush() {
      marks.flush();
      return counters.flush(undefined, true);
    },
    invalidate: (tenantId) => limits.invalidate(tenantId),
    close() {
      closing ??= shutdown();
      return closing;
    },
  };

  async function shutdown(): Promise<void> {
    {
      marks.flush();
      clearInterval(syncTimer);
      clearInterval(sweepTimer);
      reclaim.close();
      await subscription.close();
      await Promise.all([rates.close(), slots.close(), counters.close()]).catch(() => {});
    }
  }
}
