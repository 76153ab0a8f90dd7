/**
 * Requests refused before any work (unknown model, rate/concurrency/quota limits, a reused id,
 * a body over the limit) are not worth a usage row and an idempotency key each: a flood of them
 * would fill ClickHouse, the rollups (with arbitrary model names) and Redis (issue 17.7). They are
 * counted per (tenant, minute, HTTP status, reason) in memory and written as one summed row per
 * key every USAGE_REJECTIONS_FLUSH_MS into `usage_rejections_minute_v1` (SummingMergeTree).
 *
 * Honest limit: counts not yet written when the process dies are lost (at most one interval);
 * they are statistics for dashboards, not billed usage.
 */
import type { ClickHouse } from '../clickhouse/index.js';
import { tables } from '../clickhouse/index.js';
import type { Logger } from '../shared/index.js';

export interface Rejection {
  tenantId: string;
  /** Epoch ms of the request's arrival. */
  ts: number;
  httpStatus: number;
  /** A short fixed word (not_found, rate_limited, ...): never client-supplied text. */
  reason: string;
}

export const REJECTION_COLUMNS = ['tenant_id', 'bucket', 'http_status', 'reason', 'rejections'] as const;

/** Keys held in memory before a flush is forced (bounds memory under a flood of many tenants). */
const MAX_KEYS = 50_000;

export class RejectionCounter {
  private counts = new Map<string, { tenantId: string; bucket: number; httpStatus: number; reason: string; n: number }>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** Rejections counted since start (tests, stats). */
  total = 0;

  constructor(private readonly deps: { clickhouse: ClickHouse | null; logger: Logger; intervalMs: number }) {}

  start(): void {
    if (this.timer || !this.deps.clickhouse) return;
    this.timer = setInterval(() => void this.flush(), this.deps.intervalMs);
    this.timer.unref();
  }

  count(r: Rejection): void {
    const bucket = Math.floor(r.ts / 60_000) * 60;
    const key = `${r.tenantId}\u0000${bucket}\u0000${r.httpStatus}\u0000${r.reason}`;
    const e = this.counts.get(key);
    if (e) e.n++;
    else this.counts.set(key, { tenantId: r.tenantId, bucket, httpStatus: r.httpStatus, reason: r.reason, n: 1 });
    this.total++;
    if (this.counts.size >= MAX_KEYS) void this.flush();
  }

  /** Writes what was counted so far (one row per key); on failure the counts are kept for the next try. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    const ch = this.deps.clickhouse;
    if (!ch || this.counts.size === 0) return;
    const batch = this.counts;
    this.counts = new Map();
    const rows = [...batch.values()].map((e) => ({ tenant_id: e.tenantId, bucket: e.bucket, http_status: e.httpStatus, reason: e.reason, rejections: e.n }));
    try {
      await ch.insert(tables.usageRejectionsMinute, rows, { columns: REJECTION_COLUMNS });
    } catch (err) {
      this.deps.logger.warn({ err, rows: rows.length }, 'usage: rejection counts not written; retrying with the next interval');
      // Put them back (summed with what arrived meanwhile), bounded like count().
      for (const [k, e] of batch) {
        const now = this.counts.get(k);
        if (now) now.n += e.n;
        else if (this.counts.size < MAX_KEYS) this.counts.set(k, e);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
