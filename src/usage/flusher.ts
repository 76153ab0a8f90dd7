/**
 * Moves durable WAL records into `usage_events_v1`, exactly once.
 *
 * A batch is the run of records read from the WAL cursor; its id is `walId-segment-offset` of
 * its first record, so the same batch after a restart (the cursor comes back from the
 * checkpoint) carries the same id. Per batch: drop in-batch repeats, mark in Redis, drop
 * ids already in ClickHouse (dedup.ts), insert with JSONEachRow. After a failed insert the
 * outcome is unknown (a reset connection may come after the server wrote the rows): wait
 * until the server no longer runs that insert's query id, ask which rows carry the batch id,
 * and resend only the rest. Only then is the WAL checkpoint moved (and old segments deleted).
 */
import { redisKey, type Logger, type Redis } from '../shared/index.js';
import type { Config } from '../config/index.js';
import { literal, sql, isPermanentInsertError, type ClickHouse } from '../clickhouse/index.js';
import type { UsageRecord } from './contract.js';
import type { Wal, WalEntry, WalPosition } from './wal.js';
import { existingInClickHouse, landedWithBatch, markInRedis, MARK_DUPLICATE, MARK_REPLAY, pairKey, type Candidate } from './dedup.js';
import { toUsageRow, USAGE_COLUMNS, USAGE_TABLE } from './rows.js';
import { DeadLetterFile } from './dead-letter.js';

export type FlusherConfig = Pick<
  Config,
  'USAGE_FLUSH_INTERVAL_MS' | 'USAGE_FLUSH_MAX_ROWS' | 'USAGE_DEDUP_WINDOW_HOURS' | 'USAGE_DEDUP_CHECK' | 'USAGE_DEDUP_CHECK_LOOKBACK_MINUTES' | 'USAGE_DRAIN_TIMEOUT_MS' | 'REDIS_PREFIX'
>;

export interface UsageFlusherDeps {
  wal: Wal;
  clickhouse: ClickHouse;
  /** Optional: without Redis (or while it fails) the ClickHouse check covers the whole dedup window. */
  redis?: Redis | null;
  config: FlusherConfig;
  logger: Logger;
}

export interface FlusherStats {
  batches: number;
  inserted: number;
  duplicatesDropped: number;
  failedAttempts: number;
  ambiguousChecks: number;
  /** Records written to `<wal dir>/dead-letter.jsonl` (rejected by ClickHouse for their content, or unbindable keys). */
  deadLettered: number;
  backlog: number;
  lastError: string | null;
  /** Cumulative milliseconds spent reading+parsing the WAL, in the dedup checks and in inserts. */
  readMs: number;
  dedupMs: number;
  redisMs: number;
  checkMs: number;
  insertMs: number;
}

export interface UsageFlusher {
  start(): void;
  /** Stops the loop; with `drain` (default true) it first sends what is durable, up to USAGE_DRAIN_TIMEOUT_MS. */
  stop(opts?: { drain?: boolean }): Promise<void>;
  /** Resolves once every record durable at call time is confirmed in ClickHouse. */
  flushNow(): Promise<void>;
  stats(): FlusherStats;
}

class Stopped extends Error {}

/** Inserts in flight at once (ClickHouse takes concurrent batches faster than serial ones). */
const MAX_INSERTS = 2;

interface Parsed extends Candidate {
  rec: UsageRecord;
}

export function createUsageFlusher(deps: UsageFlusherDeps): UsageFlusher {
  const { wal, clickhouse, config, logger } = deps;
  const redis = deps.redis ?? null;
  const stats: FlusherStats = { batches: 0, inserted: 0, duplicatesDropped: 0, failedAttempts: 0, ambiguousChecks: 0, deadLettered: 0, backlog: 0, lastError: null, readMs: 0, dedupMs: 0, redisMs: 0, checkMs: 0, insertMs: 0 };
  const ttlSeconds = config.USAGE_DEDUP_WINDOW_HOURS * 3600;
  const deadLetters = new DeadLetterFile(wal.dir);
  const keyOf = (c: Candidate) => redisKey(config, 'usage', 'eid', c.tenantId, c.eventId);

  let cursor: WalPosition = wal.checkpoint();
  let consumed = 0; // records read and confirmed since open
  let running = false;
  let stopping = false; // abandon retries at once
  let draining = false; // send everything without waiting for the interval
  let loop: Promise<void> | null = null;
  let lastFlush = Date.now();
  const waiters: Array<{ target: number; resolve: () => void; reject: (e: Error) => void }> = [];

  const backlog = () => Math.max(0, wal.durableRecords() - consumed);
  const unsubscribe = wal.onDurable(() => {
    if (backlog() >= config.USAGE_FLUSH_MAX_ROWS) poke();
  });

  const wakers = new Set<() => void>();
  const poke = () => {
    for (const w of [...wakers]) w();
  };
  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });
  }

  /** WAL payloads were validated by the sink before the append and are CRC-checked: only their keys are checked here. */
  function parse(entries: WalEntry[]): Parsed[] {
    const out: Parsed[] = [];
    for (const e of entries) {
      try {
        const rec = JSON.parse(e.payload.toString('utf8')) as UsageRecord;
        if (typeof rec.tenantId !== 'string' || typeof rec.eventId !== 'string' || typeof rec.ts !== 'number') throw new Error('not a usage record');
        out.push({ rec, tenantId: rec.tenantId, eventId: rec.eventId, ts: rec.ts, uid: `${wal.id}:${e.segment}:${e.offset}` });
      } catch (err) {
        logger.error({ err, segment: e.segment, offset: e.offset }, 'usage flusher: unparseable WAL record skipped');
      }
    }
    return out;
  }

  async function dropDuplicates(batch: Parsed[], inFlight: ReadonlySet<string>): Promise<Parsed[]> {
    const seen = new Set<string>(inFlight); // ids of the batch still being inserted count as seen
    let kept = batch.filter((p) => {
      const k = pairKey(p.tenantId, p.eventId);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    const t0 = performance.now();
    const marking: Promise<number[] | null> = redis
      ? markInRedis(redis, keyOf, kept, ttlSeconds).finally(() => (stats.redisMs += performance.now() - t0)).catch((err: unknown) => {
          logger.warn({ err }, 'usage flusher: Redis dedup unavailable; checking ClickHouse over the full window');
          return null;
        })
      : Promise.resolve(null);
    const lookbackMs = config.USAGE_DEDUP_CHECK_LOOKBACK_MINUTES * 60_000;
    const timed = (p: Promise<Set<string>>) => p.finally(() => (stats.checkMs += performance.now() - t0));
    let marks: number[] | null;
    let existing: Set<string>;
    if (config.USAGE_DEDUP_CHECK === 'all') {
      // Redis marks and the ClickHouse check of every id run side by side; either can drop a record.
      [marks, existing] = await Promise.all([marking, timed(existingInClickHouse(clickhouse, kept, lookbackMs))]);
    } else {
      // 'replays': only records Redis saw before under their own uid (a replay after a crash) are looked up.
      marks = await marking;
      const m = marks;
      existing = m ? await timed(existingInClickHouse(clickhouse, kept.filter((_, i) => m[i] === MARK_REPLAY), lookbackMs)) : new Set();
    }
    // Without Redis the ClickHouse check must cover every id over the whole dedup window by itself.
    if (!marks) existing = await timed(existingInClickHouse(clickhouse, kept, ttlSeconds * 1000));
    kept = kept.filter((p, i) => (!marks || marks[i] !== MARK_DUPLICATE) && !existing.has(pairKey(p.tenantId, p.eventId)));
    stats.duplicatesDropped += batch.length - kept.length;
    return kept;
  }

  /** Retries `fn` with capped exponential backoff until it succeeds or the flusher is stopped. */
  async function persist<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (stopping) throw new Stopped();
      try {
        return await fn();
      } catch (err) {
        stats.failedAttempts++;
        stats.lastError = (err as Error).message;
        if (attempt === 0 || attempt % 20 === 0) logger.warn({ err, attempt }, `usage flusher: ${what} failed; retrying`);
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2));
      }
    }
  }

  async function waitUntilGone(queryId: string): Promise<void> {
    for (let i = 0; i < 600; i++) {
      const rows = await clickhouse.query<{ n: string }>(sql`SELECT count() AS n FROM system.processes WHERE query_id = ${queryId}`);
      if (Number(rows[0]?.n ?? 0) === 0) return;
      await sleep(100);
    }
    throw new Error(`insert ${queryId} still running on the server`);
  }

  /** Writes records that can never be delivered to the dead-letter file (fsync'd) and counts them. */
  async function deadLetter(items: Array<{ p: Parsed; err: unknown }>, why: string): Promise<void> {
    if (items.length === 0) return;
    await persist('dead-letter write', () => deadLetters.append(items.map(({ p, err }) => ({ uid: p.uid, record: p.rec, error: err }))));
    stats.deadLettered += items.length;
    logger.error({ count: items.length, file: deadLetters.file, err: items[0]!.err }, `usage flusher: ${items.length} record(s) ${why}; written to the dead-letter file`);
  }

  /** Records whose keys the dedup queries cannot bind (e.g. a lone surrogate) would fail every check of their batch. */
  async function dropUnbindable(parsed: Parsed[]): Promise<Parsed[]> {
    const bad: Array<{ p: Parsed; err: unknown }> = [];
    const good = parsed.filter((p) => {
      try {
        literal(p.tenantId);
        literal(p.eventId);
        return true;
      } catch (err) {
        bad.push({ p, err });
        return false;
      }
    });
    await deadLetter(bad, 'cannot be bound into the dedup check');
    return good;
  }

  async function prepare(entries: WalEntry[], inFlight: ReadonlySet<string>): Promise<Parsed[]> {
    let t = performance.now();
    const parsed = await dropUnbindable(parse(entries));
    stats.readMs += performance.now() - t;
    t = performance.now();
    const todo = await persist('dedup check', () => dropDuplicates(parsed, inFlight));
    stats.dedupMs += performance.now() - t;
    return todo;
  }

  /**
   * Inserts `batch` under `batchId`. Transport (and transient server) failures are retried after
   * checking what landed. A failure caused by the rows themselves (isPermanentInsertError) splits
   * the rest in halves, inserted under deterministic sub-batch ids (`<id>-l` / `<id>-r`), down to
   * single records, which are dead-lettered: the poison pill is isolated, the others land once.
   */
  async function insertBatch(batch: Parsed[], batchId: string): Promise<void> {
    let todo = batch;
    for (let attempt = 0; todo.length > 0; attempt++) {
      if (stopping) throw new Stopped();
      const queryId = `tollgate-usage-${batchId}-${attempt}`;
      const rows = todo.map((p) => toUsageRow(p.rec, batchId));
      try {
        const started = performance.now();
        await clickhouse.insert(USAGE_TABLE, rows, { queryId, columns: USAGE_COLUMNS });
        stats.insertMs += performance.now() - started;
        stats.inserted += rows.length;
        return;
      } catch (err) {
        stats.failedAttempts++;
        stats.lastError = (err as Error).message;
        const permanent = isPermanentInsertError(err);
        logger.warn({ err, batchId, rows: rows.length, attempt, permanent }, 'usage flusher: insert failed; checking what landed before resending');
        if (!permanent) await sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)));
        // Ambiguous outcome: let the server finish (or fail) that insert, then ask what landed.
        const current = todo;
        const landed = await persist('landed check', async () => {
          await waitUntilGone(queryId);
          return landedWithBatch(clickhouse, batchId, current);
        });
        stats.ambiguousChecks++;
        if (landed.size > 0) {
          stats.inserted += landed.size;
          todo = todo.filter((p) => !landed.has(pairKey(p.tenantId, p.eventId)));
        }
        if (permanent && todo.length > 0) return isolate(todo, batchId, err);
      }
    }
  }

  async function isolate(todo: Parsed[], batchId: string, err: unknown): Promise<void> {
    if (todo.length === 1) return deadLetter([{ p: todo[0]!, err }], 'rejected by ClickHouse');
    const half = Math.ceil(todo.length / 2);
    await insertBatch(todo.slice(0, half), `${batchId}-l`);
    await insertBatch(todo.slice(half), `${batchId}-r`);
  }

  function settleWaiters(): void {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (consumed >= waiters[i]!.target) waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /**
   * Batches are prepared (parsed, deduplicated) while up to MAX_INSERTS earlier ones are being
   * inserted; confirmations stay in WAL order (each waits for its predecessor). Ids of batches
   * still in flight are excluded from the next one.
   */
  async function run(): Promise<void> {
    let readCursor = cursor;
    let readCount = consumed;
    let inflight: Array<{ done: Promise<void>; keys: Set<string> }> = [];
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
        const due = draining || waiters.length > 0 || unread >= config.USAGE_FLUSH_MAX_ROWS || Date.now() - lastFlush >= config.USAGE_FLUSH_INTERVAL_MS;
        if (unread <= 0 || !due) {
          if (inflight.length > 0) {
            await finishOldest();
            continue;
          }
          if (draining && unread <= 0) return;
          settleWaiters();
          await sleep(unread <= 0 ? config.USAGE_FLUSH_INTERVAL_MS : Math.max(1, config.USAGE_FLUSH_INTERVAL_MS - (Date.now() - lastFlush)));
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
        const first = entries[0]!;
        const batchId = `${wal.id}-${first.segment}-${first.offset}`.replace(/[^A-Za-z0-9-]/g, '');
        const busy = new Set<string>();
        for (const f of inflight) for (const k of f.keys) busy.add(k);
        const todo = await prepare(entries, busy);
        readCursor = next;
        readCount += entries.length;
        while (inflight.length >= MAX_INSERTS) await finishOldest();
        const count = entries.length;
        const previous = inflight.at(-1)?.done ?? Promise.resolve();
        const done = Promise.all([insertBatch(todo, batchId), previous]).then(async () => {
          await wal.confirm(next);
          cursor = next;
          consumed += count;
          lastFlush = Date.now();
          stats.batches++;
          settleWaiters();
        });
        done.catch(() => undefined); // awaited by finishOldest; avoid an unhandled rejection meanwhile
        inflight.push({ done, keys: new Set(todo.map((p) => pairKey(p.tenantId, p.eventId))) });
      } catch (err) {
        if (err instanceof Stopped) break;
        stats.lastError = (err as Error).message;
        logger.error({ err }, 'usage flusher: unexpected error; retrying from the last confirmed record');
        await settleAll();
        readCursor = cursor;
        readCount = consumed;
        await sleep(1_000);
      }
    }
    await settleAll();
  }

  return {
    start() {
      if (running) return;
      running = true;
      stopping = false;
      draining = false;
      loop = run().finally(() => {
        running = false;
      });
    },
    async stop({ drain = true } = {}) {
      if (!loop) return;
      if (drain) {
        draining = true;
        poke();
        const timer = setTimeout(() => {
          stopping = true;
          poke();
        }, config.USAGE_DRAIN_TIMEOUT_MS);
        await loop;
        clearTimeout(timer);
      }
      running = false;
      stopping = true;
      poke();
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
        poke();
      });
    },
    stats() {
      return { ...stats, backlog: backlog() };
    },
  };
}
