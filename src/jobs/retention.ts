/**
 * Retention for ClickHouse (18.16 has no TTL): drops whole partitions whose every row is older
 * than the table's retention. A partition's time span comes from its value (toYYYYMM ->
 * a month, toYYYYMMDD / toDate -> a day, toYear -> a year); it is dropped only when that
 * span ends at or before `now - retention`, and — where system.parts knows the partition's
 * newest row (max_time) — that row is older than the cutoff too. Tables not listed here
 * (other engineers' tables, schema_migrations) are never touched.
 *
 * A plain function: the worker role schedules it (e.g. a daily bull job) and calls it.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../shared/index.js';
import { ident, join, literal, sql, tables, type ClickHouse } from '../clickhouse/index.js';

export type RetentionConfig = Pick<Config, 'RETENTION_USAGE_DAYS' | 'RETENTION_ROLLUP_DAYS' | 'RETENTION_MINUTE_ROLLUP_DAYS' | 'RETENTION_TRACES_DAYS' | 'RETENTION_ANOMALY_DAYS'>;

/** Table -> retention in days, from config. */
export function retentionPolicy(config: RetentionConfig): Record<string, number> {
  return {
    [tables.usageEvents]: config.RETENTION_USAGE_DAYS,
    [tables.usageMinute]: config.RETENTION_MINUTE_ROLLUP_DAYS,
    [tables.usageLatencyMinute]: config.RETENTION_MINUTE_ROLLUP_DAYS,
    [tables.usageHourly]: config.RETENTION_ROLLUP_DAYS,
    [tables.usageDaily]: config.RETENTION_ROLLUP_DAYS,
    [tables.usageLatencyHourly]: config.RETENTION_ROLLUP_DAYS,
    [tables.usageLatencyDaily]: config.RETENTION_ROLLUP_DAYS,
    [tables.usageTagsHourly]: config.RETENTION_ROLLUP_DAYS,
    [tables.otelTraces]: config.RETENTION_TRACES_DAYS,
    [tables.otelTraceIdTs]: config.RETENTION_TRACES_DAYS,
    [tables.anomalyScores]: config.RETENTION_ANOMALY_DAYS,
  };
}

export interface DroppedPartition {
  table: string;
  partition: string;
  partitionId: string;
  endsAt: string;
}

export interface RunRetentionOptions {
  clickhouse: ClickHouse;
  config: RetentionConfig;
  now?: Date;
  logger?: Logger;
  /** Report what would be dropped without dropping it. */
  dryRun?: boolean;
}

/** End (exclusive, UTC ms) of the time span a partition value covers, or null when the format is unknown (never dropped). */
export function partitionEnd(partition: string): number | null {
  const p = partition.replace(/^'|'$/g, '');
  let m: RegExpExecArray | null;
  if ((m = /^(\d{4})(\d{2})(\d{2})$/.exec(p))) return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]! + 1);
  if ((m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(p))) return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]! + 1);
  if ((m = /^(\d{4})(\d{2})$/.exec(p))) return Date.UTC(+m[1]!, +m[2]!, 1);
  if ((m = /^(\d{4})$/.exec(p))) return Date.UTC(+m[1]! + 1, 0, 1);
  return null;
}

interface PartRow {
  table: string;
  partition: string;
  partition_id: string;
  max_time: number;
}

export async function runRetention(opts: RunRetentionOptions): Promise<DroppedPartition[]> {
  const { clickhouse, config, logger } = opts;
  const now = (opts.now ?? new Date()).getTime();
  const policy = retentionPolicy(config);
  const names = Object.keys(policy);
  const parts = await clickhouse.query<PartRow>(
    sql`SELECT table, partition, partition_id, toUInt32(max(max_time)) AS max_time
        FROM system.parts
        WHERE database = ${clickhouse.database} AND active AND table IN (${join(names.map((n) => literal(n)))})
        GROUP BY table, partition, partition_id
        ORDER BY table, partition_id`,
  );
  const dropped: DroppedPartition[] = [];
  for (const part of parts) {
    const days = policy[part.table];
    const end = partitionEnd(part.partition);
    if (days === undefined || end === null) continue;
    const cutoff = now - days * 86_400_000;
    const newest = Number(part.max_time) * 1000;
    if (end > cutoff || (newest > 0 && newest >= cutoff)) continue;
    if (!opts.dryRun) {
      await clickhouse.exec(sql`ALTER TABLE ${ident(part.table, names)} DROP PARTITION ID ${part.partition_id}`);
    }
    const d = { table: part.table, partition: part.partition, partitionId: part.partition_id, endsAt: new Date(end).toISOString() };
    dropped.push(d);
    logger?.info({ ...d, retentionDays: days, dryRun: Boolean(opts.dryRun) }, 'retention: dropped partition');
  }
  return dropped;
}
