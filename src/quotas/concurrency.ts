/**
 * Concurrent in-flight request caps shared through Redis. Each process holds a number of slots
 * in a Redis hash (one field per process, with an expiry the process keeps refreshing, so a
 * crashed process's slots come back after the lease TTL). A request uses a held slot when one
 * is free locally; otherwise it takes one more slot with one script call. Finished requests
 * keep their slot locally for `holdMs` so a busy tenant does not pay a round trip per request,
 * then surplus slots go back. Processes together never hold more than the cap (no
 * over-admission); a process may sit on idle slots for at most `holdMs`.
 */
import { RedisUnavailableError, type RedisGuard } from './redis-guard.js';
import { concurrencyAdjust, runScript } from './scripts.js';
import type { Clock } from './types.js';

interface Slots {
  max: number;
  /** Slots this process holds in Redis. */
  held: number;
  /** Requests in flight here (may exceed `held` only in fail-open mode). */
  inUse: number;
  fullUntil: number;
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
}

export class ConcurrencyLimiter {
  private readonly slots = new Map<string, Slots>();
  private readonly heartbeat: NodeJS.Timeout;
  private lastRefreshOk: number;

  constructor(private readonly deps: ConcurrencyDeps) {
    this.lastRefreshOk = deps.clock();
    this.heartbeat = setInterval(() => void this.refresh(), Math.max(50, Math.floor(deps.leaseTtlMs / 3)));
    this.heartbeat.unref();
  }

  /** In flight for `scope` in this process. */
  inUse(scope: string): number {
    return this.slots.get(scope)?.inUse ?? 0;
  }

  /** Takes a slot; true when admitted. Synchronous when a held slot is free. Throws RedisUnavailableError when failing closed. */
  acquire(scope: string, max: number): boolean | Promise<boolean> {
    let s = this.slots.get(scope);
    if (!s) this.slots.set(scope, (s = { max, held: 0, inUse: 0, fullUntil: 0, timer: null, lastRelease: 0 }));
    s.max = max;
    if (s.inUse < s.held && s.inUse < max) {
      s.inUse++;
      return true;
    }
    const now = this.deps.clock();
    if (now < s.fullUntil) return false;
    if (!this.deps.guard.up) return this.degraded(s);
    return this.take(scope, s);
  }

  private async take(scope: string, s: Slots): Promise<boolean> {
    try {
      const [delta, , total] = await this.adjust(scope, s, 1);
      s.held += delta;
      if (s.inUse < s.held && s.inUse < s.max) {
        s.inUse++;
        return true;
      }
      if (total >= s.max) s.fullUntil = this.deps.clock() + 2;
      return false;
    } catch (err) {
      if (err instanceof RedisUnavailableError) return this.degraded(s);
      throw err;
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
    if (s.held > s.inUse && !s.timer) this.armGiveBack(scope, s, this.deps.holdMs);
  }

  /** Surplus slots go back once the scope has had no release for `holdMs` (a busy scope keeps them). */
  private armGiveBack(scope: string, s: Slots, delayMs: number): void {
    s.timer = setTimeout(() => {
      s.timer = null;
      const quietFor = this.deps.clock() - s.lastRelease;
      if (quietFor < this.deps.holdMs) this.armGiveBack(scope, s, this.deps.holdMs - quietFor);
      else void this.giveBack(scope, s);
    }, Math.max(1, delayMs));
    s.timer.unref();
  }

  private async giveBack(scope: string, s: Slots): Promise<void> {
    const surplus = s.held - s.inUse;
    if (surplus <= 0) return;
    // Lower `held` first: a request arriving meanwhile must not use a slot that is on its way back.
    s.held -= surplus;
    try {
      await this.adjust(scope, s, -surplus);
    } catch {
      // The lease expires on its own if Redis never hears back.
    }
    if (s.held === 0 && s.inUse === 0 && !s.timer) this.slots.delete(scope);
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
    await Promise.all(all.map(([scope, s]) => (s.held > 0 ? this.adjust(scope, s, -s.held).catch(() => undefined) : undefined)));
    this.slots.clear();
  }
}
