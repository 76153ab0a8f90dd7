/**
 * Idempotency of event ids: a (tenant, event id) is charged once, and an id is bound to the
 * request it was first used for.
 *
 * The mark in Redis (`seen:<tenant>:<event id>`, window QUOTA_IDEMPOTENCY_WINDOW_SECONDS) holds the
 * request's fingerprint (sha256 over model, version and body, computed by the inference service),
 * or '1' for a request without one. `SET key fp NX GET` answers: nothing there -> a new request
 * (charge it); the same fingerprint -> a retry (serve it, do not charge); a different fingerprint ->
 * the id was reused for another request (409). Without a fingerprint any earlier mark means retry.
 *
 * Marks are batched: all marks of one event-loop turn go in one script call.
 * - With a fingerprint (a client-chosen id) admission waits for the answer before admitting, so a
 *   conflicting request is never served (one Redis round trip, shared by everything in the batch).
 * - Without one (server-generated ids) the mark is written in the background within 10 ms and
 *   the admission is charged at once; a late "already marked" answer refunds it exactly once.
 * A per-process map answers ids this process saw recently without Redis.
 */
import type { QuotaKeys } from './keys.js';
import type { RedisGuard } from './redis-guard.js';
import { markSeen, runScript } from './scripts.js';

/** Mark value of a request without a fingerprint (also every mark written before fingerprints). */
export const NO_FINGERPRINT = '1';

export type Verdict = 'new' | 'retry' | 'conflict';

/** What an earlier mark (`old`, '' or undefined when none) means for a request with fingerprint `fp`. */
export function verdict(old: string | undefined, fp: string | undefined): Verdict {
  if (old === undefined || old === '') return 'new';
  if (fp === undefined || old === NO_FINGERPRINT || old === fp) return 'retry';
  return 'conflict';
}

/** A queued background mark; `cancelled` drops it from the batch if it has not been sent yet. */
export interface QueuedMark {
  cancelled: boolean;
  sent: boolean;
}

/** Gets the value the key had ('' = this call set it), or null and the error when the call failed. */
export interface MarkListener {
  onMark(old: string | null, err?: Error): void;
}

interface Entry extends QueuedMark {
  key: string;
  value: string;
  listener: MarkListener;
}

export interface IdempotencyDeps {
  guard: RedisGuard;
  keys: QuotaKeys;
  ttlSeconds: number;
  /** Ids remembered per process (two generations of half this size). */
  maxLocal?: number;
}

export class IdempotencyMarks {
  private readonly local: SeenIds;
  private batch: Entry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(private readonly deps: IdempotencyDeps) {
    this.local = new SeenIds(deps.maxLocal ?? 20_000, deps.ttlSeconds * 1000);
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
      this.push({ key: this.deps.keys.seen(tenantId, eventId), value, cancelled: false, sent: false, listener });
      this.immediate ??= setImmediate(() => this.flush());
    });
  }

  /** Sets the mark in the background (within 10 ms); the listener gets the earlier value ('' when none) or null on failure. */
  markLater(tenantId: string, eventId: string, value: string, listener: MarkListener): QueuedMark {
    const entry: Entry = { key: this.deps.keys.seen(tenantId, eventId), value, cancelled: false, sent: false, listener };
    this.push(entry);
    this.timer ??= setTimeout(() => this.flush(), 10);
    return entry;
  }

  /** Removes a mark this process set (its request failed, so a retry must count as new). */
  unmark(tenantId: string, eventId: string): void {
    if (!this.deps.guard.up) return;
    this.deps.guard.run('idempotency', (r) => r.del(this.deps.keys.seen(tenantId, eventId))).catch(() => {});
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
    const args: (string | number)[] = [this.deps.ttlSeconds];
    for (const e of batch) args.push(e.value);
    this.deps.guard
      .run('idempotency', (r) => runScript(r, markSeen, batch.map((e) => e.key), args))
      .then(
        (res) => (res as string[]).forEach((old, i) => batch[i]!.listener.onMark(String(old))),
        (err: Error) => batch.forEach((e) => e.listener.onMark(null, err)),
      );
  }
}

/**
 * Recently marked (tenant, event id) pairs in this process with their mark values, bounded in size
 * and age: two generations of per-tenant Maps (O(1) everything, no key concatenation, no scans).
 */
type Seen = number | { at: number; value: string }; // a bare timestamp: no fingerprint (nothing to allocate)

class SeenIds {
  private current = new Map<string, Map<string, Seen>>();
  private previous = new Map<string, Map<string, Seen>>();
  private size = 0;
  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}
  get(tenantId: string, eventId: string, now: number): string | undefined {
    const e = this.current.get(tenantId)?.get(eventId) ?? this.previous.get(tenantId)?.get(eventId);
    if (e === undefined) return undefined;
    if (typeof e === 'number') return now - e < this.ttlMs ? NO_FINGERPRINT : undefined;
    return now - e.at < this.ttlMs ? e.value : undefined;
  }
  add(tenantId: string, eventId: string, value: string, now: number): void {
    if (this.size >= this.max / 2) {
      this.previous = this.current;
      this.current = new Map();
      this.size = 0;
    }
    let m = this.current.get(tenantId);
    if (!m) this.current.set(tenantId, (m = new Map()));
    m.set(eventId, value === NO_FINGERPRINT ? now : { at: now, value });
    this.size++;
  }
  delete(tenantId: string, eventId: string): void {
    this.current.get(tenantId)?.delete(eventId);
    this.previous.get(tenantId)?.delete(eventId);
  }
}
