/**
 * The steps one WAL batch goes through on its way into ClickHouse (flusher.ts runs them):
 *   prepare: parse → dropUnbindable → dropDuplicates      (while earlier batches insert)
 *   insertBatch (→ isolate → deadLetter on content errors)
 * They share a FlushContext: the connections, the stats, the dead-letter file and the Pacer.
 */
import type { Logger, Redis } from '../shared/index.js';
import type { Config } from '../config/index.js';
import { literal, sql, isPermanentInsertError, type ClickHouse } from '../clickhouse/index.js';
import { markDeliveries, type Delivery } from '../idempotency/index.js';
import type { UsageRecord } from './contract.js';
import type { WalEntry } from './wal.js';
import { existingInClickHouse, landedWithBatch, pairKey, type Candidate } from './dedup.js';
import { toUsageRow, USAGE_COLUMNS, USAGE_TABLE } from './rows.js';
import type { DeadLetterFile } from './dead-letter.js';
import { Stopped, type Pacer } from './pacer.js';

export type FlusherConfig = Pick<
  Config,
  'USAGE_FLUSH_INTERVAL_MS' | 'USAGE_FLUSH_MAX_ROWS' | 'IDEMPOTENCY_WINDOW_SECONDS' | 'USAGE_DEDUP_CHECK' | 'USAGE_DEDUP_CHECK_LOOKBACK_MINUTES' | 'USAGE_DRAIN_TIMEOUT_MS' | 'REDIS_PREFIX'
>;

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

export interface FlushContext {
  readonly walId: string;
  readonly clickhouse: ClickHouse;
  /** Optional: without Redis (or while it fails) the ClickHouse check covers the whole idempotency window. */
  readonly redis: Redis | null;
  readonly config: FlusherConfig;
  readonly logger: Logger;
  readonly stats: FlusherStats;
  readonly deadLetters: DeadLetterFile;
  readonly pacer: Pacer;
}

export interface Parsed extends Candidate {
  rec: UsageRecord;
}

/** WAL payloads were validated by the sink before the append and are CRC-checked: only their keys are checked here. */
export function parse(ctx: FlushContext, entries: WalEntry[]): Parsed[] {
  const out: Parsed[] = [];
  for (const e of entries) {
    try {
      const rec = JSON.parse(e.payload.toString('utf8')) as UsageRecord;
      if (typeof rec.tenantId !== 'string' || typeof rec.eventId !== 'string' || typeof rec.ts !== 'number') throw new Error('not a usage record');
      out.push({ rec, tenantId: rec.tenantId, eventId: rec.eventId, ts: rec.ts, uid: `${ctx.walId}:${e.segment}:${e.offset}` });
    } catch (err) {
      ctx.logger.error({ err, segment: e.segment, offset: e.offset }, 'usage flusher: unparseable WAL record skipped');
    }
  }
  return out;
}

/** Writes records that can never be delivered to the dead-letter file (fsync'd) and counts them. */
export async function deadLetter(ctx: FlushContext, items: Array<{ p: Parsed; err: unknown }>, why: string): Promise<void> {
  if (items.length === 0) return;
  await ctx.pacer.persist('dead-letter write', () => ctx.deadLetters.append(items.map(({ p, err }) => ({ uid: p.uid, record: p.rec, error: err }))));
  ctx.stats.deadLettered += items.length;
  ctx.logger.error({ count: items.length, file: ctx.deadLetters.file, err: items[0]!.err }, `usage flusher: ${items.length} record(s) ${why}; written to the dead-letter file`);
}

/** Records whose keys the dedup queries cannot bind (e.g. a lone surrogate) would fail every check of their batch. */
export async function dropUnbindable(ctx: FlushContext, parsed: Parsed[]): Promise<Parsed[]> {
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
  await deadLetter(ctx, bad, 'cannot be bound into the dedup check');
  return good;
}

/** Keeps the first record of each (tenant, event id) in the batch, skipping ids of batches still being inserted. */
function firstOfEachId(batch: Parsed[], inFlight: ReadonlySet<string>): Parsed[] {
  const seen = new Set<string>(inFlight);
  return batch.filter((p) => {
    const k = pairKey(p.tenantId, p.eventId);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Drops retries and records already in ClickHouse: idempotency's delivery marks (retry = another
 * record delivered the id) and a lookup of the batch's ids in usage_events_v1 (the crash window:
 * a replayed record that landed). Without Redis the lookup covers the whole idempotency window.
 */
export async function dropDuplicates(ctx: FlushContext, batch: Parsed[], inFlight: ReadonlySet<string>): Promise<Parsed[]> {
  const { config, stats, clickhouse } = ctx;
  let kept = firstOfEachId(batch, inFlight);
  const t0 = performance.now();
  const windowSeconds = config.IDEMPOTENCY_WINDOW_SECONDS;
  // Only a success owns its client's id: a failure's event id is unique (`<id>#<uuid>`), so it
  // needs no Redis key (a flood of failures must not cost one each, issue 17.7) and is never a
  // retry; a replay of it after a crash is caught by the ClickHouse lookup below.
  const owners = kept.flatMap((p, i) => (p.rec.status === 'ok' ? [i] : []));
  const marking: Promise<Delivery[] | null> = ctx.redis
    ? markDeliveries(ctx.redis, { prefix: config.REDIS_PREFIX, windowSeconds }, owners.map((i) => kept[i]!))
        .then((ds) => {
          const all: Delivery[] = kept.map(() => 'replay');
          owners.forEach((i, j) => (all[i] = ds[j]!));
          return all;
        })
        .finally(() => (stats.redisMs += performance.now() - t0))
        .catch((err: unknown) => {
          ctx.logger.warn({ err }, 'usage flusher: Redis dedup unavailable; checking ClickHouse over the full window');
          return null;
        })
    : Promise.resolve(null);
  const lookbackMs = config.USAGE_DEDUP_CHECK_LOOKBACK_MINUTES * 60_000;
  const timed = (p: Promise<Set<string>>) => p.finally(() => (stats.checkMs += performance.now() - t0));
  let marks: Delivery[] | null;
  let existing: Set<string>;
  if (config.USAGE_DEDUP_CHECK === 'all') {
    // Redis marks and the ClickHouse check of every id run side by side; either can drop a record.
    [marks, existing] = await Promise.all([marking, timed(existingInClickHouse(clickhouse, kept, lookbackMs))]);
  } else {
    // 'replays': only records Redis saw before under their own uid (a replay after a crash) are looked up.
    marks = await marking;
    const m = marks;
    existing = m ? await timed(existingInClickHouse(clickhouse, kept.filter((_, i) => m[i] === 'replay'), lookbackMs)) : new Set();
  }
  // Without Redis the ClickHouse check must cover every id over the whole window by itself.
  if (!marks) existing = await timed(existingInClickHouse(clickhouse, kept, windowSeconds * 1000));
  kept = kept.filter((p, i) => (!marks || marks[i] !== 'retry') && !existing.has(pairKey(p.tenantId, p.eventId)));
  stats.duplicatesDropped += batch.length - kept.length;
  return kept;
}

/** Parses and deduplicates one batch read from the WAL. */
export async function prepare(ctx: FlushContext, entries: WalEntry[], inFlight: ReadonlySet<string>): Promise<Parsed[]> {
  let t = performance.now();
  const parsed = await dropUnbindable(ctx, parse(ctx, entries));
  ctx.stats.readMs += performance.now() - t;
  t = performance.now();
  const todo = await ctx.pacer.persist('dedup check', () => dropDuplicates(ctx, parsed, inFlight));
  ctx.stats.dedupMs += performance.now() - t;
  return todo;
}

async function waitUntilGone(ctx: FlushContext, queryId: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const rows = await ctx.clickhouse.query<{ n: string }>(sql`SELECT count() AS n FROM system.processes WHERE query_id = ${queryId}`);
    if (Number(rows[0]?.n ?? 0) === 0) return;
    await ctx.pacer.sleep(100);
  }
  throw new Error(`insert ${queryId} still running on the server`);
}

/**
 * Inserts `batch` under `batchId`. Transport (and transient server) failures are retried after
 * checking what landed. A failure caused by the rows themselves (isPermanentInsertError) splits
 * the rest in halves, inserted under deterministic sub-batch ids (`<id>-l` / `<id>-r`), down to
 * single records, which are dead-lettered: the poison pill is isolated, the others land once.
 */
export async function insertBatch(ctx: FlushContext, batch: Parsed[], batchId: string): Promise<void> {
  const { stats } = ctx;
  let todo = batch;
  for (let attempt = 0; todo.length > 0; attempt++) {
    if (ctx.pacer.stopping) throw new Stopped();
    const queryId = `tollgate-usage-${batchId}-${attempt}`;
    const rows = todo.map((p) => toUsageRow(p.rec, batchId));
    try {
      const started = performance.now();
      await ctx.clickhouse.insert(USAGE_TABLE, rows, { queryId, columns: USAGE_COLUMNS });
      stats.insertMs += performance.now() - started;
      stats.inserted += rows.length;
      return;
    } catch (err) {
      stats.failedAttempts++;
      stats.lastError = (err as Error).message;
      const permanent = isPermanentInsertError(err);
      ctx.logger.warn({ err, batchId, rows: rows.length, attempt, permanent }, 'usage flusher: insert failed; checking what landed before resending');
      if (!permanent) await ctx.pacer.sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)));
      // Ambiguous outcome: let the server finish (or fail) that insert, then ask what landed.
      const current = todo;
      const landed = await ctx.pacer.persist('landed check', async () => {
        await waitUntilGone(ctx, queryId);
        return landedWithBatch(ctx.clickhouse, batchId, current);
      });
      stats.ambiguousChecks++;
      if (landed.size > 0) {
        stats.inserted += landed.size;
        todo = todo.filter((p) => !landed.has(pairKey(p.tenantId, p.eventId)));
      }
      if (permanent && todo.length > 0) return isolate(ctx, todo, batchId, err);
    }
  }
}

async function isolate(ctx: FlushContext, todo: Parsed[], batchId: string, err: unknown): Promise<void> {
  if (todo.length === 1) return deadLetter(ctx, [{ p: todo[0]!, err }], 'rejected by ClickHouse');
  const half = Math.ceil(todo.length / 2);
  await insertBatch(ctx, todo.slice(0, half), `${batchId}-l`);
  await insertBatch(ctx, todo.slice(half), `${batchId}-r`);
}
