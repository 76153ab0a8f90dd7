/**
 * Concurrent in-flight request caps shared through Redis. Each process holds a number of slots
 * in a Redis hash (one field per process, with an expiry the process keeps refreshing, so a
 * crashed process's slots come back after the lease TTL). A request uses a held slot when one
 * is free locally; otherwise it queues for the scope's one Redis call, which takes a slot for
 * every queued request at once. Finished requests keep their slot locally for `holdMs` so a
 * busy tenant does not pay a round trip per request, then surplus slots go back. Processes
 * together never hold more than the cap (no over-admission).
 *
 * A request is refused only when Redis has no slot left after this process's own returning
 * slots have arrived and the other processes have given back their idle ones (reclaim.ts): the
 * cap really is in use. After such a shortage a scope is "contended" for a while: every process
 * gives a finished request's slot straight back instead of holding it.
 */
import { RedisUnavailableError, type RedisGuard } from './redis-guard.js';
import { batchArrivals } from './batch.js';
import type { LeaseReclaim } from './reclaim.js';
import { concurrencyAdjust, runScript } from './scripts.js';
import type { Clock } from './types.js';

interface Waiter {
  resolve(ok: boolean): void;
  reject(err: unknown): void;
}

interface Slots {
  max: number;
  /** Slots this process holds in Redis. */
  held: number;
  /** Requests in flight here (may exceed `held` only in fail-open mode). */
  inUse: number;
  /** Requests waiting for a slot from Redis, in arrival order; served by one drain loop. */
  queue: Waiter[];
  draining: boolean;
  /** Slots on their way back to Redis (already taken off `held`). */
  returning: Promise<void> | null;
  fullUntil: number;
  /** Give finished requests' slots straight back until then (the cap was reached recently). */
  contendedUntil: number;
  timer: NodeJS.Timeout | null;
  lastRelease: number;
}

export interface ConcurrencyDeps {
  guard: RedisGuard;
  key: (scope: string) => string;
  clock: Clock;
  procId: string;
  leaseTtlMs: number;
  holdMs: number;
  /** Asks other processes for their idle slots before a refusal (absent: Redis' word is final). */
  reclaim?: LeaseReclaim | undefined;
}

export class ConcurrencyLimiter {
  private readonly slots = new Map<string, Slots>();
  private readonly heartbeat: NodeJS.Timeout;
  private lastRefreshOk: number;

  constructor(private readonly deps: ConcurrencyDeps) {
    this.lastRefreshOk = deps.clock();
    this.heartbeat = setInterval(() => void this.refresh(), Math.max(50, Math.floor(deps.leaseTtlMs / 3)));
    this.heartbeat.unref();
    deps.reclaim?.own('cc', (scope) => this.giveBackIdle(scope));
  }

  /** In flight for `scope` in this process. */
  inUse(scope: string): number {
    return this.slots.get(scope)?.inUse ?? 0;
  }

  /** Takes a slot; true when admitted. Synchronous when a held slot is free. Throws RedisUnavailableError when failing closed. */
  acquire(scope: string, max: number): boolean | Promise<boolean> {
    let s = this.slots.get(scope);
    if (!s) this.slots.set(scope, (s = { max, held: 0, inUse: 0, queue: [], draining: false, returning: null, fullUntil: 0, contendedUntil: 0, timer: null, lastRelease: 0 }));
    s.max = max;
    if (s.inUse < s.held && s.inUse < max && s.queue.length === 0) {
      s.inUse++;
      return true;
    }
    if (!s.draining) {
      if (this.deps.clock() < s.fullUntil) return false;
      if (!this.deps.guard.up) return this.degraded(s);
    }
    const slots = s;
    return new Promise<boolean>((resolve, reject) => {
      slots.queue.push({ resolve, reject });
      if (!slots.draining) void this.drain(scope, slots);
    });
  }

  /**
   * Serves the queue: one script call takes a slot for every queued request. Short of slots, it
   * waits for this process's returning slots, then for the other processes' idle ones, and asks
   * Redis again; what is still queued then is refused (the cap is in use).
   */
  private async drain(scope: string, s: Slots): Promise<void> {
    s.draining = true;
    let reclaimed = false;
    let waitedForReturns = false;
    try {
      await batchArrivals();
      while (s.queue.length > 0) {
        const want = Math.min(s.queue.length, s.max - s.held);
        let othersHold = false;
        if (want > 0) {
          const [delta, mine, total] = await this.adjust(scope, s, want);
          s.held += delta;
          othersHold = total > mine;
          this.serve(s);
          // Requests that queued after the call went out get the next one.
          if (s.queue.length === 0 || delta === want) continue;
        }
        s.contendedUntil = this.deps.clock() + (this.deps.reclaim?.quietMs ?? 0);
        if (s.returning && !waitedForReturns) {
          waitedForReturns = true;
          await s.returning;
        } else if (othersHold && !reclaimed && (await this.deps.reclaim?.ask('cc', scope))) reclaimed = true;
        else {
          if (reclaimed) this.deps.reclaim?.confirm('cc', scope); // the others had nothing idle
          s.fullUntil = this.deps.clock() + 2;
          for (const w of s.queue.splice(0)) w.resolve(false);
        }
        this.serve(s);
      }
    } catch (err) {
      this.failQueued(s, err);
    } finally {
      s.draining = false;
      this.afterRelease(scope, s);
    }
  }

  private serve(s: Slots): void {
    while (s.queue.length > 0 && s.inUse < s.held && s.inUse < s.max) {
      s.inUse++;
      s.queue.shift()!.resolve(true);
    }
  }

  /** Redis became unreachable while requests were queued: each is decided as if it had been down. */
  private failQueued(s: Slots, err: unknown): void {
    for (const w of s.queue.splice(0)) {
      if (!(err instanceof RedisUnavailableError)) w.reject(err);
      else
        try {
          w.resolve(this.degraded(s));
        } catch (closed) {
          w.reject(closed);
        }
    }
  }

  /** Fail-open: cap locally at the full limit; fail-closed: refuse. */
  private degraded(s: Slots): boolean {
    this.deps.guard.degraded('concurrency');
    if (this.deps.guard.failureMode === 'closed') throw new RedisUnavailableError('concurrency state unavailable');
    if (s.inUse >= s.max) return false;
    s.inUse++;
    return true;
  }

  release(scope: string): void {
    const s = this.slots.get(scope);
    if (!s || s.inUse === 0) return;
    s.inUse--;
    s.fullUntil = 0;
    s.lastRelease = this.deps.clock();
    this.serve(s); // a queued request takes the freed slot at once
    this.afterRelease(scope, s);
  }

  /** Surplus slots: straight back while the scope is contended, else after `holdMs` without a release. */
  private afterRelease(scope: string, s: Slots): void {
    if (s.held <= s.inUse || s.queue.length > 0 || s.draining) return;
    if (this.deps.clock() < s.contendedUntil) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
      void this.giveBack(scope, s);
    } else if (!s.timer) this.armGiveBack(scope, s, this.deps.holdMs);
  }

  private armGiveBack(scope: string, s: Slots, delayMs: number): void {
    s.timer = setTimeout(() => {
      s.timer = null;
      const quietFor = this.deps.clock() - s.lastRelease;
      if (quietFor < this.deps.holdMs) this.armGiveBack(scope, s, this.deps.holdMs - quietFor);
      else void this.giveBack(scope, s);
    }, Math.max(1, delayMs));
    s.timer.unref();
  }

  /** A reclaim request from another process: give back the slots no request here uses or waits for. */
  private async giveBackIdle(scope: string): Promise<void> {
    const s = this.slots.get(scope);
    if (!s) return;
    s.contendedUntil = this.deps.clock() + (this.deps.reclaim?.quietMs ?? 0);
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    if (s.queue.length === 0 && !s.draining) await this.giveBack(scope, s);
    else if (s.returning) await s.returning;
  }

  private async giveBack(scope: string, s: Slots): Promise<void> {
    const surplus = s.held - s.inUse;
    if (surplus <= 0) return void (await s.returning);
    // Lower `held` first: a request arriving meanwhile must not use a slot that is on its way back.
    s.held -= surplus;
    const sent = this.adjust(scope, s, -surplus).then(
      () => undefined,
      () => undefined, // the lease expires on its own if Redis never hears back
    );
    const all = s.returning ? Promise.all([s.returning, sent]).then(() => undefined) : sent;
    s.returning = all;
    await all;
    if (s.returning === all) s.returning = null;
    if (s.held === 0 && s.inUse === 0 && !s.timer && !s.draining && s.queue.length === 0 && !s.returning) this.slots.delete(scope);
  }

  private async adjust(scope: string, s: Slots, delta: number): Promise<[number, number, number]> {
    const reply = await this.deps.guard.run('concurrency', (r) =>
      runScript(r, concurrencyAdjust, [this.deps.key(scope)], [s.max, this.deps.procId, delta, this.deps.clock(), this.deps.leaseTtlMs]),
    );
    return (reply as number[]).map(Number) as [number, number, number];
  }

  /**
   * Keeps this process's leases alive. If Redis stayed unreachable for longer than the lease
   * TTL, Redis has already forgotten our slots: stop counting them as held, so we do not spend
   * slots another process may have taken since.
   */
  private async refresh(): Promise<void> {
    const now = this.deps.clock();
    if (!this.deps.guard.up) {
      if (now - this.lastRefreshOk > this.deps.leaseTtlMs) for (const s of this.slots.values()) s.held = 0;
      return;
    }
    const held = [...this.slots].filter(([, s]) => s.held > 0);
    const ok = await Promise.all(held.map(([scope, s]) => this.adjust(scope, s, 0).then(() => true, () => false)));
    if (ok.every(Boolean)) this.lastRefreshOk = now;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    const all = [...this.slots];
    for (const [, s] of all) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
    }
    await Promise.all(all.filter(([, s]) => s.held > 0).map(([scope, s]) => this.adjust(scope, s, -s.held).catch(() => undefined)));
    this.slots.clear();
  }
}
