/**
 * Buffers span rows and inserts them into otel_traces_v1 in batches (every
 * OTLP_FLUSH_INTERVAL_MS, or at once past OTLP_FLUSH_MAX_ROWS), with up to two inserts in
 * flight. Memory is bounded: `offer` refuses rows past OTLP_MAX_BUFFERED_SPANS and the
 * receiver answers 503 (OTLP exporters retry those). Traces are best effort: an insert that
 * fails in transit (or on a transient server error) is retried while the process lives, but
 * spans are not written to disk. An insert ClickHouse rejects for its content (a parse error)
 * is split in halves down to the offending rows, which are dropped (counted, logged): one bad
 * span must not hold up every tenant's spans behind it.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../shared/index.js';
import { otelTraceColumns, tables, isPermanentInsertError, type ClickHouse } from '../clickhouse/index.js';
import type { OtelSpanRow } from './span-row.js';

export type SpanWriterConfig = Pick<Config, 'OTLP_MAX_BUFFERED_SPANS' | 'OTLP_FLUSH_INTERVAL_MS' | 'OTLP_FLUSH_MAX_ROWS'>;

/**
 * Who sent rows, for buffer shares (issue 17.9): `owner` may hold at most `maxOwnerRows` buffered
 * rows, and all owned rows together at most `maxOwnedRows` (unowned rows — Tollgate's own spans —
 * are bounded only by the buffer, so a tenant flood cannot keep them out).
 */
export interface OfferLimit {
  owner: string;
  maxOwnerRows: number;
  maxOwnedRows: number;
}

export interface SpanWriter {
  /** Queues rows; false (nothing queued) when that would pass the buffer bound or the owner's share. */
  offer(rows: OtelSpanRow[], limit?: OfferLimit): boolean;
  /** Resolves once every row offered so far is in ClickHouse. */
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): { buffered: number; inserted: number; failedInserts: number; droppedRows: number };
}

const MAX_IN_FLIGHT = 2;

export function createSpanWriter(deps: { clickhouse: ClickHouse; config: SpanWriterConfig; logger: Logger }): SpanWriter {
  const { clickhouse, config, logger } = deps;
  let queue: OtelSpanRow[] = [];
  let owners: string[] = []; // parallel to queue: '' = unowned
  const ownerRows = new Map<string, number>();
  let ownedRows = 0;
  const release = (batch: string[]) => {
    for (const o of batch) {
      if (o === '') continue;
      ownedRows--;
      const n = (ownerRows.get(o) ?? 1) - 1;
      if (n <= 0) ownerRows.delete(o);
      else ownerRows.set(o, n);
    }
  };
  let inFlightRows = 0;
  let inFlight = 0;
  let inserted = 0;
  let failedInserts = 0;
  let droppedRows = 0;
  /** Rows inserted or given up on: what flush() waits for. */
  const settled = () => inserted + droppedRows;
  let closed = false;
  let offered = 0;
  const waiters: Array<{ target: number; resolve: () => void }> = [];
  const timer = setInterval(() => pump(true), config.OTLP_FLUSH_INTERVAL_MS);
  timer.unref();

  function settle(): void {
    for (let i = waiters.length - 1; i >= 0; i--) if (settled() >= waiters[i]!.target) waiters.splice(i, 1)[0]!.resolve();
  }

  async function send(rows: OtelSpanRow[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await clickhouse.insert(tables.otelTraces, rows, { columns: otelTraceColumns });
        inserted += rows.length;
        return;
      } catch (err) {
        failedInserts++;
        if (isPermanentInsertError(err)) return isolate(rows, err);
        if (attempt === 0 || attempt % 20 === 0) logger.warn({ err, rows: rows.length, attempt }, 'otlp: span insert failed; retrying');
        if (closed && attempt >= 3) {
          logger.error({ rows: rows.length }, 'otlp: dropping spans at shutdown after repeated insert failures');
          droppedRows += rows.length; // settled, so flush() callers are not stuck
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  /** The rows themselves are refused: split until the bad ones are alone, then drop them. */
  async function isolate(rows: OtelSpanRow[], err: unknown): Promise<void> {
    if (rows.length === 1) {
      droppedRows++;
      const r = rows[0]!;
      logger.error({ err, tenantId: r.TenantId, traceId: r.TraceId, spanId: r.SpanId }, 'otlp: ClickHouse rejected a span row; dropped');
      return;
    }
    const half = Math.ceil(rows.length / 2);
    await send(rows.slice(0, half));
    await send(rows.slice(half));
  }

  function pump(timerTick = false): void {
    while (inFlight < MAX_IN_FLIGHT && queue.length > 0 && (timerTick || waiters.length > 0 || closed || queue.length >= config.OTLP_FLUSH_MAX_ROWS)) {
      const rows = queue.length > config.OTLP_FLUSH_MAX_ROWS ? queue.splice(0, config.OTLP_FLUSH_MAX_ROWS) : queue;
      const batchOwners = rows === queue ? owners : owners.splice(0, rows.length);
      if (rows === queue) {
        queue = [];
        owners = [];
      }
      inFlight++;
      inFlightRows += rows.length;
      void send(rows).finally(() => {
        release(batchOwners);
        inFlight--;
        inFlightRows -= rows.length;
        settle();
        pump(queue.length >= config.OTLP_FLUSH_MAX_ROWS || waiters.length > 0 || closed);
      });
    }
  }

  return {
    offer(rows, limit) {
      if (closed || queue.length + inFlightRows + rows.length > config.OTLP_MAX_BUFFERED_SPANS) return false;
      const owner = limit?.owner ?? '';
      if (limit) {
        if ((ownerRows.get(owner) ?? 0) + rows.length > limit.maxOwnerRows || ownedRows + rows.length > limit.maxOwnedRows) return false;
        ownerRows.set(owner, (ownerRows.get(owner) ?? 0) + rows.length);
        ownedRows += rows.length;
      }
      for (const r of rows) {
        queue.push(r);
        owners.push(owner);
      }
      offered += rows.length;
      if (queue.length >= config.OTLP_FLUSH_MAX_ROWS) pump();
      return true;
    },
    flush() {
      const target = offered;
      if (settled() >= target) return Promise.resolve();
      return new Promise<void>((resolve) => {
        waiters.push({ target, resolve });
        pump(true);
      });
    },
    async close() {
      closed = true;
      clearInterval(timer);
      const target = offered;
      if (settled() < target) await new Promise<void>((resolve) => {
        waiters.push({ target, resolve });
        pump(true);
      });
    },
    stats: () => ({ buffered: queue.length + inFlightRows, inserted, failedInserts, droppedRows }),
  };
}
