/**
 * Request-rate limits as token buckets shared through Redis, spent locally from leases.
 *
 * Each process takes tokens from the shared bucket in small batches (about 20 ms of the rate,
 * at most half the burst) with one atomic script call, and refills its lease in the background
 * when it runs low, so a request normally costs a decrement. Tokens leave Redis before any
 * process spends them, so all processes together never admit more than the bucket allows:
 * at most `burst + rps × t` requests in any interval t (no over-admission). The price is
 * under-admission: a process may sit on at most one lease of unspent tokens, which it gives
 * back after one idle second. When Redis says the bucket is empty, the process refuses
 * locally until the next token is due, so a flood of refused requests costs no round trips.
 */
import { RedisUnavailableError, type RedisGuard } from './redis-guard.js';
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
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused: seconds until a token is due. */
  retryAfterSeconds: number;
  /** True when decided without Redis (fail-open). */
  degraded: boolean;
}

interface Bucket {
  rps: number;
  burst: number;
  local: number;
  redisTokens: number;
  redisAt: number;
  emptyUntil: number;
  fetching: Promise<void> | null;
  lastUse: number;
  fallback: TokenBucket | null;
}

export interface RateLimiterDeps {
  guard: RedisGuard;
  key: (scope: string) => string;
  clock: Clock;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  constructor(private readonly deps: RateLimiterDeps) {}

  /** Lease size: about 20 ms of the rate, at most half the burst, at least one token. */
  static leaseSize(rps: number, burst: number): number {
    return Math.max(1, Math.min(Math.ceil(rps / 50), Math.floor(burst / 2)));
  }

  /** Takes one token for `scope`. Synchronous when the local lease has one (the common case). */
  check(scope: string, rps: number, burst: number): RateCheck | Promise<RateCheck> {
    const now = this.deps.clock();
    const b = this.bucket(scope, rps, burst, now);
    if (b.local >= 1) {
      b.local--;
      b.lastUse = now;
      this.prefetch(scope, b, now);
      return this.result(b, true, now);
    }
    if (now < b.emptyUntil) return this.result(b, false, now);
    if (!this.deps.guard.up) return this.degraded(b, now);
    return this.slow(scope, b);
  }

  private bucket(scope: string, rps: number, burst: number, now: number): Bucket {
    let b = this.buckets.get(scope);
    if (!b) {
      b = { rps, burst, local: 0, redisTokens: burst, redisAt: now, emptyUntil: 0, fetching: null, lastUse: now, fallback: null };
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

  private async slow(scope: string, b: Bucket): Promise<RateCheck> {
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        await this.fetch(scope, b);
        const now = this.deps.clock();
        if (b.local >= 1) {
          b.local--;
          b.lastUse = now;
          return this.result(b, true, now);
        }
        if (now < b.emptyUntil) return this.result(b, false, now);
      }
      return this.result(b, false, this.deps.clock());
    } catch (err) {
      if (err instanceof RedisUnavailableError) return this.degraded(b, this.deps.clock());
      throw err;
    }
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
      remaining: Math.floor(b.fallback.available(now)),
      resetSeconds: Math.ceil(b.fallback.msUntil(b.burst, now) / 1000),
      retryAfterSeconds: ok ? 0 : Math.max(1, Math.ceil(b.fallback.msUntil(1, now) / 1000)),
      degraded: true,
    };
  }

  private fetch(scope: string, b: Bucket): Promise<void> {
    if (b.fetching) return b.fetching;
    const want = RateLimiter.leaseSize(b.rps, b.burst);
    const now = this.deps.clock();
    const ttlMs = Math.ceil((b.burst / b.rps) * 1000) + 60_000;
    b.fetching = this.deps.guard
      .run('rate', (r) => runScript(r, rateTake, [this.deps.key(scope)], [b.rps, b.burst, now, want, ttlMs]))
      .then((reply) => {
        const [granted, left] = reply as [number, string];
        const tokens = Number(left);
        b.local += Number(granted);
        b.redisTokens = tokens;
        b.redisAt = now;
        b.emptyUntil = granted < want && b.local < 1 ? now + Math.max(1, Math.ceil(((1 - tokens) * 1000) / b.rps)) : 0;
      })
      .finally(() => {
        b.fetching = null;
      });
    return b.fetching;
  }

  private prefetch(scope: string, b: Bucket, now: number): void {
    if (b.fetching || now < b.emptyUntil || b.local * 2 >= RateLimiter.leaseSize(b.rps, b.burst) || !this.deps.guard.up) return;
    this.fetch(scope, b).catch(() => {});
  }

  private result(b: Bucket, ok: boolean, now: number): RateCheck {
    const shared = Math.min(b.burst, b.redisTokens + ((now - b.redisAt) * b.rps) / 1000);
    const remaining = Math.max(0, Math.min(b.burst, Math.floor(shared + b.local)));
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
      if (now - b.lastUse < idleMs || b.fetching) continue;
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
