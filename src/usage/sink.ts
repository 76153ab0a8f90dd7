/**
 * The production UsageSink: `record` validates and appends to the WAL (resolving after the
 * group fsync), `accepting` is false past the WAL's disk cap. `start` opens (replays) the WAL
 * and starts the flusher; `stop` closes the WAL to new records and drains it into ClickHouse.
 */
import path from 'node:path';
import type { Config } from '../config/index.js';
import { unavailable, type Logger, type Redis } from '../shared/index.js';
import type { ClickHouse } from '../clickhouse/index.js';
import { usageRecordSchema, type Rejection, type UsageRecord, type UsageSink } from './contract.js';
import { RejectionCounter } from './rejections.js';
import { Wal, type WalStats } from './wal.js';
import { createUsageFlusher, type FlusherConfig, type FlusherStats, type UsageFlusher } from './flusher.js';
import { startWatermarkPublisher } from './watermark.js';

export type WalSinkConfig = FlusherConfig &
  Pick<
    Config,
    'USAGE_WAL_DIR' | 'TOLLGATE_STATE_DIR' | 'USAGE_WAL_SYNC_INTERVAL_MS' | 'USAGE_WAL_SYNC_MAX_RECORDS' | 'USAGE_WAL_MAX_BYTES' | 'USAGE_WAL_SEGMENT_BYTES'
  > &
  Partial<Pick<Config, 'USAGE_REJECTIONS_FLUSH_MS' | 'USAGE_WATERMARK_INTERVAL_MS' | 'INFERENCE_REQUEST_TIMEOUT_MS' | 'REDIS_PREFIX'>>;

export interface WalUsageSinkDeps {
  config: WalSinkConfig;
  logger: Logger;
  clickhouse: ClickHouse;
  redis?: Redis | null;
}

export interface WalUsageSink extends UsageSink {
  /** Opens the WAL (replaying unconfirmed records) and starts the flusher. */
  start(): Promise<void>;
  /** Refuses new records, writes out the pending group, drains to ClickHouse (bounded), closes. */
  stop(opts?: { drain?: boolean }): Promise<void>;
  /** Resolves when every record acknowledged so far is confirmed in ClickHouse (tests, shutdown). */
  flushNow(): Promise<void>;
  stats(): { wal: WalStats | null; flusher: FlusherStats | null };
}

export function walDir(config: Pick<Config, 'USAGE_WAL_DIR' | 'TOLLGATE_STATE_DIR'>): string {
  return path.resolve(config.USAGE_WAL_DIR ?? path.join(config.TOLLGATE_STATE_DIR, 'wal'));
}

export function createWalUsageSink(deps: WalUsageSinkDeps): WalUsageSink {
  const { config, logger } = deps;
  let wal: Wal | null = null;
  let flusher: UsageFlusher | null = null;
  let stopWatermark: () => void = () => {};
  const rejections = new RejectionCounter({ clickhouse: deps.clickhouse, logger, intervalMs: config.USAGE_REJECTIONS_FLUSH_MS ?? 10_000 });

  return {
    rejected(r: Rejection): void {
      rejections.count(r);
    },
    async record(rec: UsageRecord): Promise<void> {
      if (!wal) throw unavailable('usage metering is not started');
      const valid = usageRecordSchema.parse(rec);
      await wal.append(Buffer.from(JSON.stringify(valid)));
    },
    accepting(): boolean {
      return wal !== null && wal.accepting();
    },
    async start() {
      if (wal) return;
      const opened = await Wal.open({
        dir: walDir(config),
        syncIntervalMs: config.USAGE_WAL_SYNC_INTERVAL_MS,
        syncMaxRecords: config.USAGE_WAL_SYNC_MAX_RECORDS,
        maxBytes: config.USAGE_WAL_MAX_BYTES,
        segmentBytes: config.USAGE_WAL_SEGMENT_BYTES,
        logger,
      });
      flusher = createUsageFlusher({ wal: opened, clickhouse: deps.clickhouse, redis: deps.redis ?? null, config, logger });
      flusher.start();
      rejections.start();
      wal = opened;
      // The flushed-through watermark invoices wait for (src/invoices): needs Redis.
      const f = flusher;
      if (deps.redis && config.REDIS_PREFIX && config.INFERENCE_REQUEST_TIMEOUT_MS) {
        stopWatermark = startWatermarkPublisher({
          redis: deps.redis,
          config: { REDIS_PREFIX: config.REDIS_PREFIX, INFERENCE_REQUEST_TIMEOUT_MS: config.INFERENCE_REQUEST_TIMEOUT_MS },
          walId: opened.id,
          backlog: () => f.stats().backlog,
          intervalMs: config.USAGE_WATERMARK_INTERVAL_MS ?? 5_000,
          logger,
        });
      }
    },
    async stop({ drain = true } = {}) {
      if (!wal || !flusher) return;
      const w = wal;
      stopWatermark();
      await w.seal(); // no new records; the pending group is written out first
      await flusher.stop({ drain });
      await rejections.stop();
      await w.close();
      wal = null;
      flusher = null;
    },
    async flushNow() {
      await Promise.all([flusher?.flushNow(), rejections.flush()]);
    },
    stats() {
      return { wal: wal?.stats() ?? null, flusher: flusher?.stats() ?? null };
    },
  };
}
