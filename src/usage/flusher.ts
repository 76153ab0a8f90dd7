/**
 * Moves durable WAL records into `usage_events_v1`, exactly once.
 *
 * A batch is the run of records read from the WAL cursor; its id is `walId-segment-offset` of
 * its first record, so the same batch after a restart (the cursor comes back from the
 * checkpoint) carries the same id. Per batch (flush-steps.ts): drop in-batch repeats and
 * retries (idempotency's delivery marks), drop ids already in ClickHouse (dedup.ts), insert
 * with JSONEachRow. After a failed insert the outcome is unknown (a reset connection may come
 * after the server wrote the rows): wait until the server no longer runs that insert's query id,
 * ask which rows carry the batch id, and resend only the rest. Only then is the WAL checkpoint
 * moved (and old segments deleted).
 */
import type { Logger, Redis } from '../shared/index.js';
import type { ClickHouse } from '../clickhouse/index.js';
import type { Wal, WalEntry, WalPosition } from './wal.js';
import { pairKey } from './dedup.js';
import { DeadLetterFile } from './dead-letter.js';
import { insertBatch, prepare, type FlushContext, type FlusherConfig, type FlusherStats } from './flush-steps.js';
import { Pacer, Stopped } from './pacer.js';

export type { FlusherConfig, FlusherStats };

export interface UsageFlusherDeps {
  wal: Wal;
  clickhouse: ClickHouse;
  /** Optional: without Redis (or while it fails) the ClickHouse check covers the whole idempotency window. */
  redis?: Redis | null;
  config: FlusherConfig;
  logger: Logger;
}

export interface UsageFlusher {
  start(): void;
  /** Stops the loop; with `drain` (default true) it first sends what is durable, up to USAGE_DRAIN_TIMEOUT_MS. */
  stop(opts?: { drain?: boolean }): Promise<void>;
  /** Resolves once every record durable at call time is confirmed in ClickHouse. */
  flushNow(): Promise<void>;
  stats(): FlusherStats;
}

/** Inserts in flight at once (ClickHouse takes concurrent batches faster than serial ones). */
const MAX_INSERTS = 2;

/** A batch being inserted: its confirmation (in WAL order) and its ids (excluded from the next batch). */
interface InFlight {
  done: Promise<void>;
  keys: Set<string>;
}

export function createUsageFlusher(deps: UsageFlusherDeps): UsageFlusher {
  const { wal, config, logger } = deps;
  const stats: FlusherStats = { batches: 0, inserted: 0, duplicatesDropped: 0, failedAttempts: 0, ambiguousChecks: 0, deadLettered: 0, backlog: 0, lastError: null, readMs: 0, dedupMs: 0, redisMs: 0, checkMs: 0, insertMs: 0 };
  const pacer = new Pacer(logger, (err) => {
    stats.failedAttempts++;
    stats.lastError = err.message;
  });
  const ctx: FlushContext = { walId: wal.id, clickhouse: deps.clickhouse, redis: deps.redis ?? null, config, logger, stats, deadLetters: new DeadLetterFile(wal.dir), pacer };

  let cursor: WalPosition = wal.checkpoint();
  let consumed = 0; // records read and confirmed since open
  let running = false;
  let draining = false; // send everything without waiting for the interval
  let loop: Promise<void> | null = null;
  let lastFlush = Date.now();
  const waiters: Array<{ target: number; resolve: () => void; reject: (e: Error) => void }> = [];

  const backlog = () => Math.max(0, wal.durableRecords() - consumed);
  const unsubscribe = wal.onDurable(() => {
    if (backlog() >= config.USAGE_FLUSH_MAX_ROWS) pacer.poke();
  });

  function settleWaiters(): void {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (consumed >= waiters[i]!.target) waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /** Whether a batch should be read now: enough rows, the interval passed, or someone waits. */
  function due(unread: number): boolean {
    return draining || waiters.length > 0 || unread >= config.USAGE_FLUSH_MAX_ROWS || Date.now() - lastFlush >= config.USAGE_FLUSH_INTERVAL_MS;
  }

  /** Starts inserting a prepared batch; it confirms (moves the checkpoint) after its predecessor. */
  function dispatch(inflight: InFlight[], entries: WalEntry[], next: WalPosition, todo: Awaited<ReturnType<typeof prepare>>): InFlight {
    const first = entries[0]!;
    const batchId = `${wal.id}-${first.segment}-${first.offset}`.replace(/[^A-Za-z0-9-]/g, '');
    const count = entries.length;
    const previous = inflight.at(-1)?.done ?? Promise.resolve();
    const done = Promise.all([insertBatch(ctx, todo, batchId), previous]).then(async () => {
      await wal.confirm(next);
      cursor = next;
      consumed += count;
      lastFlush = Date.now();
      stats.batches++;
      settleWaiters();
    });
    done.catch(() => undefined); // awaited by the loop; avoid an unhandled rejection meanwhile
    return { done, keys: new Set(todo.map((p) => pairKey(p.tenantId, p.eventId))) };
  }

  /**
   * Batches are prepared (parsed, deduplicated) while up to MAX_INSERTS earlier ones are being
   * inserted; confirmations stay in WAL order (each waits for its predecessor). Ids of batches
   * still in flight are excluded from the next one.
   */
  async function run(): Promise<void> {
    let readCursor = cursor;
    let readCount = consumed;
    let inflight: InFlight[] = [];
    const finishOldest = async () => {
      const f = inflight.shift();
      if (f) await f.done;
    };
    const settleAll = async () => {
      const all = inflight;
      inflight = [];
      await Promise.all(all.map((f) => f.done.catch(() => undefined)));
    };
    while (running) {
      try {
        const unread = wal.durableRecords() - readCount;
        if (unread <= 0 || !due(unread)) {
          if (inflight.length > 0) {
            await finishOldest();
            continue;
          }
          if (draining && unread <= 0) return;
          settleWaiters();
          await pacer.sleep(unread <= 0 ? config.USAGE_FLUSH_INTERVAL_MS : Math.max(1, config.USAGE_FLUSH_INTERVAL_MS - (Date.now() - lastFlush)));
          continue;
        }
        const { entries, next } = await wal.read(readCursor, config.USAGE_FLUSH_MAX_ROWS);
        if (entries.length === 0) {
          while (inflight.length > 0) await finishOldest();
          consumed = readCount = wal.durableRecords(); // skipped unreadable frames: nothing left to send
          cursor = readCursor = next;
          settleWaiters();
          continue;
        }
        const busy = new Set<string>();
        for (const f of inflight) for (const k of f.keys) busy.add(k);
        const todo = await prepare(ctx, entries, busy);
        readCursor = next;
        readCount += entries.length;
        while (inflight.length >= MAX_INSERTS) await finishOldest();
        inflight.push(dispatch(inflight, entries, next, todo));
      } catch (err) {
        if (err instanceof Stopped) break;
        stats.lastError = (err as Error).message;
        logger.error({ err }, 'usage flusher: unexpected error; retrying from the last confirmed record');
        await settleAll();
        readCursor = cursor;
        readCount = consumed;
        await pacer.sleep(1_000);
      }
    }
    await settleAll();
  }

  return {
    start() {
      if (running) return;
      running = true;
      pacer.stopping = false;
      draining = false;
      loop = run().finally(() => {
        running = false;
      });
    },
    async stop({ drain = true } = {}) {
      if (!loop) return;
      if (drain) {
        draining = true;
        pacer.poke();
        const timer = setTimeout(() => {
          pacer.stopping = true;
          pacer.poke();
        }, config.USAGE_DRAIN_TIMEOUT_MS);
        await loop;
        clearTimeout(timer);
      }
      running = false;
      pacer.stopping = true;
      pacer.poke();
      await loop;
      loop = null;
      unsubscribe();
      for (const w of waiters.splice(0)) w.reject(new Error('usage flusher stopped'));
      if (backlog() > 0) logger.warn({ records: backlog() }, 'usage flusher: stopped with records left in the WAL; they are replayed on next start');
    },
    flushNow() {
      const target = wal.durableRecords();
      if (consumed >= target) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        waiters.push({ target, resolve, reject });
        pacer.poke();
      });
    },
    stats() {
      return { ...stats, backlog: backlog() };
    },
  };
}
