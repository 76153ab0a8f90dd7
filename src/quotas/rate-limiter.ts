/**
 * Request-rate limits as token buckets shared through Redis, spent locally from leases.
 *
 * Tokens leave the shared bucket (one atomic script call) before any process spends them, so
 * all processes together never admit more than `burst + rps × t` requests in any interval t
 * (no over-admission). A request normally costs a decrement of the local lease, refilled in the
 * background when it runs low.
 *
 * Requests that find the lease empty queue for the bucket's one Redis call: it asks for a token
 * for every queued request (plus a lease for the next ones), so a burst of simultaneous requests
 * costs one round trip and is refused only as far as Redis itself is short. A lease beyond the
 * queued demand (about 20 ms of the rate) only comes from the bucket's upper half, so tokens
 * parked in one replica cannot leave another short while the bucket is less than half full; and
 * before refusing, the process asks the others to give back their idle tokens (reclaim.ts) and
 * asks Redis once more. Once Redis says the bucket is empty, the process refuses locally until
 * the next token is due, so a flood of refused requests costs no round trips.
 */
import { RedisUnavailableError, type RedisGuard } from './redis-guard.js';
import { batchArrivals } from './batch.js';
import type { LeaseReclaim } from './reclaim.js';
import { rateGiveBack, rateTake, runScript } from './scripts.js';
import type { Clock } from './types.js';

/** A plain token bucket (the local fallback while Redis is unreachable, and the reference model in tests). */
export class TokenBucket {
  tokens: number;
  private ts: number;
  constructor(
    public rps: number,
    public burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.ts = now;
  }
  private refill(now: number): void {
    if (now > this.ts) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.ts) * this.rps) / 1000);
      this.ts = now;
    }
  }
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }
  take(n: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
  /** Milliseconds until `n` tokens are available. */
  msUntil(n: number, now: number): number {
    this.refill(now);
    return this.tokens >= n ? 0 : Math.ceil(((n - this.tokens) * 1000) / this.rps);
  }
}

export interface RateCheck {
  ok: boolean;
  /** Bucket size (what `RateLimit-Limit` reports). */
  limit: number;
  /** Seconds to refill a whole bucket: the policy window (`RateLimit-Policy: <limit>;w=<window>`). */
  windowSeconds: number;
  /** Tokens left (0 when refused). */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused: seconds until a token is due. */
  retryAfterSeconds: number;
  /** True when decided without Redis (fail-open). */
  degraded: boolean;
}

interface Waiter {
  resolve(r: RateCheck): void;
  reject(err: unknown): void;
}

interface Bucket {
  scope: string;
  rps: number;
  burst: number;
  /** Tokens leased to this process, not spent yet. */
  local: number;
  /** Tokens left in Redis at `redisAt` (last reply). */
  redisTokens: number;
  redisAt: number;
  /** Redis was short: refuse locally until the next token is due. */
  emptyUntil: number;
  /** Take no lease beyond the demand until then (another process was short recently). */
  contendedUntil: number;
  /** The bucket's one Redis call in flight; resolves to the tokens granted. */
  fetching: Promise<number> | null;
  /** Requests waiting for a token from Redis, in arrival order; served by one drain loop. */
  queue: Waiter[];
  draining: boolean;
  lastUse: number;
  fallback: TokenBucket | null;
}

export interface RateLimiterDeps {
  guard: RedisGuard;
  key: (scope: string) => string;
  clock: Clock;
  /** Asks other processes for their idle tokens before a refusal (absent: Redis' word is final). */
  reclaim?: LeaseReclaim | undefined;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  constructor(private readonly deps: RateLimiterDeps) {
    deps.reclaim?.own('rl', (scope) => this.giveBackIdle(scope));
  }

  /** Lease size beyond the demand: about 20 ms of the rate, at most half the burst, at least one token. */
  static leaseSize(rps: number, burst: number): number {
    return Math.max(1, Math.min(Math.ceil(rps / 50), Math.floor(burst / 2)));
  }

  /** Takes one token for `scope`. Synchronous when the local lease has one (the common case). */
  check(scope: string, rps: number, burst: number): RateCheck | Promise<RateCheck> {
    const now = this.deps.clock();
    const b = this.bucket(scope, rps, burst, now);
    if (b.local >= 1 && b.queue.length === 0) {
      b.local--;
      b.lastUse = now;
      this.prefetch(b, now);
      return this.result(b, true, now);
    }
    // While the queue is being served (maybe waiting for other processes' idle tokens), join it.
    if (!b.draining) {
      if (now < b.emptyUntil) return this.result(b, false, now);
      if (!this.deps.guard.up) return this.degraded(b, now);
    }
    return new Promise<RateCheck>((resolve, reject) => {
      b.queue.push({ resolve, reject });
      if (!b.draining) void this.drain(b);
    });
  }

  /** Gives back a token taken by `check` for a request refused later on (another limit). */
  refund(scope: string, degraded: boolean): void {
    const b = this.buckets.get(scope);
    if (!b) return;
    if (degraded && b.fallback) b.fallback.tokens = Math.min(b.burst, b.fallback.tokens + 1);
    else if (!degraded) {
      b.local++;
      this.serve(b, this.deps.clock());
    }
  }

  private bucket(scope: string, rps: number, burst: number, now: number): Bucket {
    let b = this.buckets.get(scope);
    if (!b) {
      b = { scope, rps, burst, local: 0, redisTokens: burst, redisAt: now, emptyUntil: 0, contendedUntil: 0, fetching: null, queue: [], draining: false, lastUse: now, fallback: null };
      this.buckets.set(scope, b);
    } else if (b.rps !== rps || b.burst !== burst) {
      // A plan change: the next Redis call applies the new rate; drop the local lease beyond the new burst.
      b.rps = rps;
      b.burst = burst;
      b.local = Math.min(b.local, burst);
      b.emptyUntil = 0;
      b.fallback = null;
    }
    return b;
  }

  /**
   * Serves the queue, one Redis call at a time, each asking for a token per queued request plus
   * a lease. Queued requests are refused only when Redis had too few tokens even after the other
   * processes gave back their idle ones; they then see `RateLimit-Remaining: 0`.
   */
  private async drain(b: Bucket): Promise<void> {
    b.draining = true;
    let reclaimed = false;
    try {
      await batchArrivals();
      while (b.queue.length > 0) {
        if (b.fetching) await b.fetching; // a prefetch in flight may bring enough
        else if (this.deps.clock() >= b.emptyUntil) await this.fetch(b, b.queue.length, this.spareLease(b));
        else if (!reclaimed && (await this.reclaim(b))) {
          reclaimed = true;
          b.emptyUntil = 0;
        } else {
          if (reclaimed) this.deps.reclaim?.confirm('rl', b.scope); // the others had nothing idle
          this.refuseQueued(b);
          break;
        }
        this.serve(b, this.deps.clock());
      }
    } catch (err) {
      this.failQueued(b, err);
    } finally {
      b.draining = false;
    }
  }

  private serve(b: Bucket, now: number): void {
    while (b.queue.length > 0 && b.local >= 1) {
      b.local--;
      b.lastUse = now;
      b.queue.shift()!.resolve(this.result(b, true, now));
    }
  }

  private refuseQueued(b: Bucket): void {
    const now = this.deps.clock();
    for (const w of b.queue.splice(0)) w.resolve(this.result(b, false, now));
  }

  /** Redis became unreachable while requests were queued: each is decided as if it had been down. */
  private failQueued(b: Bucket, err: unknown): void {
    const now = this.deps.clock();
    for (const w of b.queue.splice(0)) {
      if (!(err instanceof RedisUnavailableError)) w.reject(err);
      else
        try {
          w.resolve(this.degraded(b, now));
        } catch (closed) {
          w.reject(closed);
        }
    }
  }

  /** Redis was short: others give back their idle tokens (and stop leasing ahead for a while). */
  private reclaim(b: Bucket): Promise<boolean> {
    const r = this.deps.reclaim;
    if (!r) return Promise.resolve(false);
    b.contendedUntil = this.deps.clock() + r.quietMs;
    return r.ask('rl', b.scope);
  }

  /** A reclaim request from another process: give back the tokens no request here waits for. */
  private async giveBackIdle(scope: string): Promise<void> {
    const b = this.buckets.get(scope);
    if (!b) return;
    b.contendedUntil = this.deps.clock() + (this.deps.reclaim?.quietMs ?? 0);
    if (b.fetching) await b.fetching.catch(() => 0);
    if (b.queue.length > 0 || b.local < 1) return;
    const n = Math.floor(b.local);
    b.local -= n;
    await this.deps.guard.run('rate', (r) => runScript(r, rateGiveBack, [this.deps.key(scope)], [n, b.burst]));
  }

  /** Fail-open: a local bucket at the full rate (each process admits up to the limit). Fail-closed: rethrow. */
  private degraded(b: Bucket, now: number): RateCheck {
    this.deps.guard.degraded('rate');
    if (this.deps.guard.failureMode === 'closed') throw new RedisUnavailableError('rate-limit state unavailable');
    b.fallback ??= new TokenBucket(b.rps, b.burst, now);
    const ok = b.fallback.take(1, now);
    return {
      ok,
      limit: b.burst,
      windowSeconds: Math.max(1, Math.ceil(b.burst / b.rps)),
      remaining: ok ? Math.floor(b.fallback.available(now)) : 0,
      resetSeconds: Math.ceil(b.fallback.msUntil(b.burst, now) / 1000),
      retryAfterSeconds: ok ? 0 : Math.max(1, Math.ceil(b.fallback.msUntil(1, now) / 1000)),
      degraded: true,
    };
  }

  /**
   * One script call: `need` tokens for queued requests (as many as Redis has) plus up to `extra`
   * from the bucket's upper half. Short of `need`: refuse locally until the next token is due.
   */
  private fetch(b: Bucket, need: number, extra: number): Promise<number> {
    const now = this.deps.clock();
    const ttlMs = Math.ceil((b.burst / b.rps) * 1000) + 60_000;
    const p = this.deps.guard
      .run('rate', (r) => runScript(r, rateTake, [this.deps.key(b.scope)], [b.rps, b.burst, now, need, extra, ttlMs]))
      .then((reply) => {
        const [g, left] = reply as [number, string];
        const granted = Number(g);
        const tokens = Number(left);
        b.local += granted;
        b.redisTokens = tokens;
        b.redisAt = now;
        b.emptyUntil = granted < need ? now + Math.max(1, Math.ceil(((1 - tokens) * 1000) / b.rps)) : 0;
        return granted;
      })
      .finally(() => {
        b.fetching = null;
      });
    b.fetching = p;
    return p;
  }

  /** The lease to take beyond the demand: none while contended or while the bucket is in its lower half. */
  private spareLease(b: Bucket): number {
    const now = this.deps.clock();
    if (now < b.contendedUntil || this.sharedTokens(b, now) < b.burst / 2 + 1) return 0;
    return RateLimiter.leaseSize(b.rps, b.burst);
  }

  private prefetch(b: Bucket, now: number): void {
    if (b.fetching || b.draining || now < b.emptyUntil || b.local * 2 >= RateLimiter.leaseSize(b.rps, b.burst) || !this.deps.guard.up) return;
    const extra = this.spareLease(b);
    if (extra > 0) this.fetch(b, 0, extra).catch(() => {});
  }

  /** Tokens in Redis as of the last reply plus what has refilled since (others' takes unknown). */
  private sharedTokens(b: Bucket, now: number): number {
    return Math.min(b.burst, b.redisTokens + ((now - b.redisAt) * b.rps) / 1000);
  }

  private result(b: Bucket, ok: boolean, now: number): RateCheck {
    // Leased tokens left the bucket: Redis plus the lease is at most the bucket, less this request's token.
    const remaining = ok ? Math.max(0, Math.min(b.burst - 1, Math.floor(this.sharedTokens(b, now) + b.local))) : 0;
    return {
      ok,
      limit: b.burst,
      windowSeconds: Math.max(1, Math.ceil(b.burst / b.rps)),
      remaining,
      resetSeconds: Math.ceil((b.burst - remaining) / b.rps),
      retryAfterSeconds: ok ? 0 : Math.max(1, Math.ceil((Math.max(b.emptyUntil, now + 1) - now) / 1000)),
      degraded: false,
    };
  }

  /** Gives back leases idle for `idleMs` and forgets idle buckets. Called by a timer. */
  async sweep(idleMs = 1000): Promise<void> {
    const now = this.deps.clock();
    const work: Promise<unknown>[] = [];
    for (const [scope, b] of this.buckets) {
      if (now - b.lastUse < idleMs || b.fetching || b.draining) continue;
      if (b.local >= 1 && this.deps.guard.up) {
        const n = Math.floor(b.local);
        b.local -= n;
        work.push(this.deps.guard.run('rate', (r) => runScript(r, rateGiveBack, [this.deps.key(scope)], [n, b.burst])).catch(() => {}));
      }
      if (now - b.lastUse > 30 * idleMs && b.local < 1) this.buckets.delete(scope);
    }
    await Promise.all(work);
  }

  /** Gives back every lease (shutdown). */
  async close(): Promise<void> {
    await this.sweep(-1);
  }
}
