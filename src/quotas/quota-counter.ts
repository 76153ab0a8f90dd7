/**
 * Monthly quota counters per (scope, meter, billing period), shared through Redis.
 *
 * Hard limits on meters charged at admission (requests, items: see src/metering) are enforced exactly: a process leases units from the
 * shared counter (one atomic script call reserves them against the limit) and spends them
 * locally, so processes together never admit more than the limit. Near the limit leases shrink
 * to a quarter of what is left, so units stranded in another process's lease stay few; unspent
 * leases go back after an idle interval and expire if a process dies.
 * Compute meters are only known when a request finishes: they are charged on release and a hard
 * compute limit refuses new requests once the shared total reaches it (it can overshoot by the
 * compute of requests already running plus one sync interval of other processes' use).
 * Soft limits only count and notify.
 *
 * Use is pushed to Redis every sync interval as per-minute deltas (see scripts.ts), which lets
 * reconciliation replace everything before a cutoff with ClickHouse's exact figures.
 */
import { RedisUnavailableError, type RedisGuard } from './redis-guard.js';
import { batchArrivals } from './batch.js';
import type { LeaseReclaim } from './reclaim.js';
import { quotaGiveBack, quotaSync, runScript } from './scripts.js';
import type { QuotaKeys } from './keys.js';
import { meterDefinition, type Meter, type MeterDefinition } from '../metering/index.js';
import type { BillingPeriod } from './period.js';
import type { Clock, Notify, QuotaLimit } from './types.js';
import type { Logger } from '../shared/index.js';

const RETAIN_AFTER_PERIOD_MS = 35 * 86_400_000;

export interface CounterSpec extends QuotaLimit {
  tenantId: string;
  apiKeyId?: string | undefined;
  scope: string;
  period: BillingPeriod;
  /** Units per limit unit (1000 for compute meters counted in µs). */
  scale: number;
  /** The meter's registry entry (what it counts, when it is charged). */
  def: MeterDefinition<Meter>;
}

interface UnitWaiter {
  units: number;
  minute: number;
  resolve(ok: boolean): void;
  reject(err: unknown): void;
}

export class Counter {
  local = 0;
  pending = new Map<number, number>();
  total = 0;
  leasedAll = 0;
  known = false;
  syncing: Promise<void> | null = null;
  lastUse = 0;
  leaseValidUntil = 0;
  exhaustedUntil = 0;
  /** Set when the counter is dropped from the registry; holders must look it up again. */
  retired = false;
  /** Reservations waiting for units from Redis, in arrival order; served by one drain loop. */
  queue: UnitWaiter[] = [];
  draining = false;
  /** Lease no more than needed until then (another process was short recently). */
  contendedUntil = 0;
  /** Last push to Redis; starts at a random point of the interval so counters do not sync in lockstep. */
  lastSync = Date.now() - Math.random() * 1000;
  readonly notified = new Set<number>();
  constructor(
    /** Registry key (scope, meter, period): names the lease in reclaim requests. */
    readonly id: string,
    public spec: CounterSpec,
  ) {}
  get leased(): boolean {
    // Use known at admission is reserved from a lease; compute (known at release) is checked, not leased.
    return this.spec.hard && this.spec.def.chargedAt === 'admission';
  }
  get limitUnits(): number {
    return this.spec.limit * this.spec.scale;
  }
  get pendingTotal(): number {
    let n = 0;
    for (const d of this.pending.values()) n += d;
    return n;
  }
  /** Units used as far as this process knows (shared total at last sync plus local unsynced use). */
  get used(): number {
    return this.total + this.pendingTotal;
  }
  add(minute: number, units: number): void {
    this.pending.set(minute, (this.pending.get(minute) ?? 0) + units);
  }
}

export interface QuotaCountersDeps {
  guard: RedisGuard;
  /** Each counter pushes its use at most this often (ms) unless it needs a lease. */
  syncIntervalMs: number;
  keys: QuotaKeys;
  clock: Clock;
  procId: string;
  leaseTtlMs: number;
  logger: Logger;
  notify?: Notify | undefined;
  /** Asks other processes for their idle units before a refusal (absent: Redis' word is final). */
  reclaim?: LeaseReclaim | undefined;
}

export class QuotaCounters {
  private readonly counters = new Map<string, Counter>();
  constructor(private readonly deps: QuotaCountersDeps) {
    deps.reclaim?.own('q', (id) => this.giveBackIdle(id));
  }

  /** The counter for (scope, meter, period); hot path: no allocation when it exists with the same limits. */
  counter(scope: string, q: QuotaLimit, owner: { tenantId: string; apiKeyId: string | undefined; period: BillingPeriod }): Counter {
    const id = scope + '|' + q.meter + '|' + owner.period.key;
    let c = this.counters.get(id);
    if (c && c.spec.limit === q.limit && c.spec.hard === q.hard && c.spec.softThresholds === q.softThresholds) return c;
    const def = meterDefinition(q.meter);
    const spec: CounterSpec = { meter: q.meter, limit: q.limit, hard: q.hard, softThresholds: q.softThresholds, tenantId: owner.tenantId, apiKeyId: owner.apiKeyId, scope, period: owner.period, scale: def.scale, def };
    if (!c) this.counters.set(id, (c = new Counter(id, spec)));
    else {
      c.spec = spec; // limits changed (plan change): takes effect at once
      c.exhaustedUntil = 0;
    }
    return c;
  }

  /**
   * Lease target: a thousandth of the limit (at most 100 000 units, at least `need`), so a busy
   * tenant refills its lease rarely and in the background, while units a replica may strand in
   * its lease stay below 0.1% of the limit. Near the limit the script shrinks grants further.
   */
  private target(c: Counter, need: number): number {
    return Math.max(need, Math.min(100_000, Math.ceil(c.limitUnits / 1000)));
  }

  /**
   * Hard requests/items: takes `units` from the local lease, leasing more when needed. False
   * when the limit is reached. Throws RedisUnavailableError when failing closed.
   */
  reserve(c: Counter, units: number, minute: number): boolean | Promise<boolean> {
    const now = this.deps.clock();
    c.lastUse = now;
    if (c.local >= units && now < c.leaseValidUntil && c.queue.length === 0) {
      this.spend(c, units, minute);
      if (c.local * 2 < this.target(c, units) && !c.syncing && now >= c.exhaustedUntil && now >= c.contendedUntil && this.deps.guard.up) this.sync(c, 1, this.target(c, 1)).catch(() => {});
      return true;
    }
    if (!c.draining) {
      if (now < c.exhaustedUntil) return false;
      if (!this.deps.guard.up) return this.degraded(c, units, minute);
    }
    return new Promise<boolean>((resolve, reject) => {
      c.queue.push({ units, minute, resolve, reject });
      if (!c.draining) void this.drain(c);
    });
  }

  private spend(c: Counter, units: number, minute: number): void {
    c.local -= units;
    c.add(minute, units);
  }

  /**
   * Serves queued reservations in order: each sync is all-or-nothing for the first one's units
   * and asks for the others' and a lease on top. When Redis has no room for the first, the other
   * processes give back their idle units (once) and Redis is asked again; then the reservations
   * that cannot fit in what is left are refused, and the rest go on.
   */
  private async drain(c: Counter): Promise<void> {
    c.draining = true;
    let reclaimed = false;
    try {
      await batchArrivals();
      while (c.queue.length > 0) {
        const head = c.queue[0]!;
        const have = this.deps.clock() < c.leaseValidUntil ? Math.floor(c.local) : 0;
        const need = Math.max(0, head.units - have);
        let demand = 0;
        for (const w of c.queue) demand += w.units;
        const lease = this.deps.clock() < c.contendedUntil ? 0 : this.target(c, head.units);
        const granted = await this.sync(c, need, Math.max(need, demand - have) + lease);
        this.serve(c);
        if (c.queue[0] !== head || granted > 0) continue;
        c.contendedUntil = this.deps.clock() + (this.deps.reclaim?.quietMs ?? 0);
        if (!reclaimed && c.leasedAll - c.local > 0 && (await this.deps.reclaim?.ask('q', c.id))) {
          reclaimed = true;
          continue;
        }
        if (reclaimed) this.deps.reclaim?.confirm('q', c.id); // the others had nothing idle
        this.refuseUnfitting(c);
      }
    } catch (err) {
      this.failQueued(c, err);
    } finally {
      c.draining = false;
    }
  }

  private serve(c: Counter): void {
    const now = this.deps.clock();
    while (c.queue.length > 0 && c.local >= c.queue[0]!.units && now < c.leaseValidUntil) {
      const w = c.queue.shift()!;
      this.spend(c, w.units, w.minute);
      w.resolve(true);
    }
  }

  /** Redis' last answer is the truth: refuse every queued reservation larger than what is left. */
  private refuseUnfitting(c: Counter): void {
    const mine = this.deps.clock() < c.leaseValidUntil ? Math.floor(c.local) : 0;
    const left = Math.max(0, c.limitUnits - c.total - c.leasedAll) + mine;
    if (left <= 0) c.exhaustedUntil = this.deps.clock() + 250;
    c.queue = c.queue.filter((w) => {
      if (w.units <= left) return true;
      w.resolve(false);
      return false;
    });
  }

  /** Redis became unreachable while reservations were queued: each is decided as if it had been down. */
  private failQueued(c: Counter, err: unknown): void {
    for (const w of c.queue.splice(0)) {
      if (!(err instanceof RedisUnavailableError)) w.reject(err);
      else
        try {
          w.resolve(this.degraded(c, w.units, w.minute));
        } catch (closed) {
          w.reject(closed);
        }
    }
  }

  /** A reclaim request from another process: give back the units no reservation here waits for. */
  private async giveBackIdle(id: string): Promise<void> {
    const c = this.counters.get(id);
    if (!c) return;
    c.contendedUntil = this.deps.clock() + (this.deps.reclaim?.quietMs ?? 0);
    if (c.syncing) await c.syncing;
    if (c.queue.length > 0 || c.draining || c.local <= 0) return;
    await this.giveBack(c);
  }

  private giveBack(c: Counter): Promise<unknown> {
    const s = c.spec;
    const n = c.local;
    c.local = 0;
    return this.deps.guard.run('quota', (r) => runScript(r, quotaGiveBack, [this.deps.keys.lease(s.scope, s.meter, s.period.key)], [this.deps.procId, n]));
  }

  /** Fail-open: admit and count locally (pushed to Redis when it is back). Fail-closed: refuse. */
  private degraded(c: Counter, units: number, minute: number): boolean {
    this.deps.guard.degraded('quota');
    if (this.deps.guard.failureMode === 'closed') throw new RedisUnavailableError('quota state unavailable');
    if (c.leased && c.known && c.used + units > c.limitUnits) return false;
    c.add(minute, units);
    return true;
  }

  /** Hard compute limits: refuse once the shared total has reached the limit. */
  check(c: Counter): boolean | Promise<boolean> {
    c.lastUse = this.deps.clock();
    if (c.known) return c.used < c.limitUnits;
    if (!this.deps.guard.up) return this.checkDegraded(c);
    // Simultaneous first checks share one sync.
    const synced =
      c.syncing ??
      this.sync(c, 0, 0).then(
        () => undefined,
        (err) => {
          if (!(err instanceof RedisUnavailableError)) throw err;
        },
      );
    return synced.then(() => (c.known ? c.used < c.limitUnits : this.checkDegraded(c)));
  }

  private checkDegraded(c: Counter): boolean {
    this.deps.guard.degraded('quota');
    if (this.deps.guard.failureMode === 'closed') throw new RedisUnavailableError('quota state unavailable');
    return c.used < c.limitUnits;
  }

  /** Counts use that needs no reservation (soft limits, compute after the fact). */
  record(c: Counter, units: number, minute: number): void {
    if (units === 0) return;
    c.lastUse = this.deps.clock();
    c.add(minute, units);
  }

  /** Takes back use (a failed request, or a retried event id): leased units return to the lease. */
  refund(c: Counter, units: number, minute: number, toLease: boolean): void {
    if (units === 0) return;
    c.add(minute, -units);
    if (toLease && c.leased) c.local += units;
  }

  /** One script call: pushes pending use, optionally leases `want` units (all-or-nothing for `need`). Returns units granted. */
  sync(c: Counter, need: number, want: number): Promise<number> {
    const prev = c.syncing ?? Promise.resolve();
    const run = prev.catch(() => {}).then(() => this.syncNow(c, need, want));
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    c.syncing = done;
    void done.then(() => {
      if (c.syncing === done) c.syncing = null;
    });
    return run;
  }

  private async syncNow(c: Counter, need: number, want: number): Promise<number> {
    const deltas = [...c.pending].filter(([, d]) => d !== 0);
    c.pending = new Map();
    const now = this.deps.clock();
    const s = c.spec;
    const args: (string | number)[] = [this.deps.procId, now, this.deps.leaseTtlMs, c.leased && want > 0 ? c.limitUnits : -1, need, want, c.leased ? 1 : 0, s.period.end.getTime() - now + RETAIN_AFTER_PERIOD_MS];
    for (const [minute, d] of deltas) args.push(minute, d);
    let reply: number[];
    try {
      reply = ((await this.deps.guard.run('quota', (r) => runScript(r, quotaSync, [this.deps.keys.used(s.scope, s.meter, s.period.key), this.deps.keys.lease(s.scope, s.meter, s.period.key)], args))) as number[]).map(Number);
    } catch (err) {
      for (const [minute, d] of deltas) c.add(minute, d); // keep it for the next attempt
      throw err;
    }
    const [granted, total, leasedAll] = reply as [number, number, number];
    c.lastSync = now;
    c.local += granted;
    c.total = total;
    c.leasedAll = leasedAll;
    c.known = true;
    // Leases live leaseTtlMs in Redis from this call; stop spending a little before that.
    if (c.local > 0) c.leaseValidUntil = now + Math.max(this.deps.leaseTtlMs - 1000, this.deps.leaseTtlMs / 2);
    if (granted > 0) c.exhaustedUntil = 0;
    void this.checkThresholds(c);
    return granted;
  }

  /** Emits each soft threshold once per (scope, meter, period) across all processes (SET NX). */
  private async checkThresholds(c: Counter): Promise<void> {
    const s = c.spec;
    if (!this.deps.notify || c.limitUnits <= 0) return;
    for (const t of s.softThresholds) {
      if (c.notified.has(t) || c.total < (c.limitUnits * t) / 100) continue;
      c.notified.add(t);
      try {
        const ttl = s.period.end.getTime() - this.deps.clock() + RETAIN_AFTER_PERIOD_MS;
        const won = await this.deps.guard.run('notify', (r) => r.set(this.deps.keys.notified(s.scope, s.meter, s.period.key, t), String(c.total), 'PX', Math.max(1000, ttl), 'NX'));
        if (won !== 'OK') continue;
        await this.deps.notify({
          tenantId: s.tenantId,
          apiKeyId: s.apiKeyId,
          meter: s.meter,
          threshold: t,
          limit: s.limit,
          used: Math.floor(c.total / s.scale),
          hard: s.hard,
          periodStart: s.period.start,
          periodEnd: s.period.end,
        });
      } catch (err) {
        c.notified.delete(t); // try again at the next sync
        this.deps.logger.warn({ err: (err as Error).message, meter: s.meter, threshold: t }, 'quota threshold notification failed');
      }
    }
  }

  /**
   * Pushes pending use of counters due (or of all with `all`); refreshes leases in use; gives back
   * leases idle for `idleMs`; forgets idle counters. Called often; each counter syncs once per interval.
   */
  async flush(idleMs = 2000, all = false): Promise<void> {
    if (!this.deps.guard.up) return;
    const now = this.deps.clock();
    const work: Promise<unknown>[] = [];
    for (const [id, c] of this.counters) {
      if (c.syncing) continue;
      const idle = now - c.lastUse >= idleMs;
      if (idle && c.local > 0 && !c.draining) work.push(this.giveBack(c).catch(() => {}));
      if (!all && now - c.lastSync < this.deps.syncIntervalMs && !idle) continue;
      const dirty = c.pending.size > 0;
      const leaseAging = c.local > 0 && c.leaseValidUntil - now < this.deps.leaseTtlMs / 2;
      if (dirty || leaseAging) work.push(this.sync(c, 0, 0).catch(() => {}));
      else if (idle && c.local === 0 && now - c.lastUse > 30 * idleMs) {
        c.retired = true;
        this.counters.delete(id);
      }
    }
    await Promise.all(work);
  }

  async close(): Promise<void> {
    await Promise.all([...this.counters.values()].flatMap((c) => (c.syncing ? [c.syncing] : [])));
    await this.flush(-1, true);
    await this.flush(-1, true);
  }
}
