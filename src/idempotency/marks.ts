/**
 * Admission's side of idempotency: binds a (tenant, request id) to the request it was first used
 * for, in Redis, so every replica applies `decide` (decision.ts) to the same mark.
 *
 * Marks are batched: all marks of one event-loop turn go in one script call.
 * - `claim` (a client-chosen id, with a fingerprint): the caller waits for the answer before it
 *   admits, so a conflicting request is never served (one round trip, shared by the batch).
 * - `markLater` (server-generated ids): written in the background within 10 ms; the listener hears
 *   the earlier value, so a late "already marked" can be refunded exactly once.
 * A per-process map answers ids this process saw recently without Redis.
 */
import type { Redis } from '../shared/index.js';
import { runScript } from '../shared/index.js';
import { SeenIds } from './seen-ids.js';
import { idempotencyKeys, type IdempotencyKeys } from './keys.js';
import { claimScript, releaseScript } from './scripts.js';

/**
 * How the marks reach Redis: admission passes its guard (a deadline per call, a quick "down"
 * verdict while Redis is unreachable); `run` rejects without calling Redis when it is down.
 */
export interface RedisRunner {
  readonly up: boolean;
  run<T>(what: string, fn: (redis: Redis) => Promise<T>): Promise<T>;
}

/** A queued background mark; `cancelled` drops it from the batch if it has not been sent yet. */
export interface QueuedMark {
  cancelled: boolean;
  sent: boolean;
}

/** Gets the value the mark had ('' = this call set it), or null and the error when the call failed. */
export interface MarkListener {
  onMark(old: string | null, err?: Error): void;
}

interface Entry extends QueuedMark {
  key: string;
  value: string;
  listener: MarkListener;
}

export interface IdempotencyMarksDeps {
  redis: RedisRunner;
  prefix: string;
  /** IDEMPOTENCY_WINDOW_SECONDS. */
  windowSeconds: number;
  /** Ids remembered per process (two generations of half this size). */
  maxLocal?: number;
}

export class IdempotencyMarks {
  private readonly local: SeenIds;
  private readonly keys: IdempotencyKeys;
  private batch: Entry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(private readonly deps: IdempotencyMarksDeps) {
    this.local = new SeenIds(deps.maxLocal ?? 20_000, deps.windowSeconds * 1000);
    this.keys = idempotencyKeys(deps.prefix);
  }

  /** The mark value this process remembers for the id, or undefined. */
  recall(tenantId: string, eventId: string, now: number): string | undefined {
    return this.local.get(tenantId, eventId, now);
  }

  remember(tenantId: string, eventId: string, value: string, now: number): void {
    this.local.add(tenantId, eventId, value, now);
  }

  forget(tenantId: string, eventId: string): void {
    this.local.delete(tenantId, eventId);
  }

  /** Sets the mark now (batched with this loop turn's others); resolves the earlier value, '' when none. */
  claim(tenantId: string, eventId: string, value: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const listener: MarkListener = { onMark: (old, err) => (err ? reject(err) : resolve(old ?? '')) };
      this.push({ key: this.keys.mark(tenantId, eventId), value, cancelled: false, sent: false, listener });
      this.immediate ??= setImmediate(() => this.flush());
    });
  }

  /** Sets the mark in the background (within 10 ms); the listener gets the earlier value ('' when none) or null on failure. */
  markLater(tenantId: string, eventId: string, value: string, listener: MarkListener): QueuedMark {
    const entry: Entry = { key: this.keys.mark(tenantId, eventId), value, cancelled: false, sent: false, listener };
    this.push(entry);
    this.timer ??= setTimeout(() => this.flush(), 10);
    return entry;
  }

  /** Removes a mark this process set (its request failed, so a retry must count as new). */
  unmark(tenantId: string, eventId: string): void {
    if (!this.deps.redis.up) return;
    this.deps.redis.run('idempotency', (r) => runScript(r, releaseScript, [this.keys.mark(tenantId, eventId)], [])).catch(() => {});
  }

  private push(e: Entry): void {
    this.batch.push(e);
    if (this.batch.length >= 1024) this.flush();
  }

  /** Sends every queued mark in one script call. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    const batch = this.batch.filter((e) => !e.cancelled);
    this.batch = [];
    if (batch.length === 0) return;
    for (const e of batch) e.sent = true;
    const args: (string | number)[] = [this.deps.windowSeconds];
    for (const e of batch) args.push(e.value);
    this.deps.redis
      .run('idempotency', (r) => runScript(r, claimScript, batch.map((e) => e.key), args))
      .then(
        (res) => (res as string[]).forEach((old, i) => batch[i]!.listener.onMark(String(old))),
        (err: Error) => batch.forEach((e) => e.listener.onMark(null, err)),
      );
  }
}
