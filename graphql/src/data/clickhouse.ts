/**
 * ClickHouse reads of the GraphQL API. Every query names the tenant and a time range (both lead
 * the rollups' sort keys, so reads are pruned), reads SummingMergeTree rollups with
 * sum() ... GROUP BY (never relying on merges), and binds values only through the sql tag.
 */
import { z } from 'zod';
import { sql, type ClickHouse, type Sql } from '../../../src/clickhouse/index.js';

export type Granularity = 'MINUTE' | 'HOUR' | 'DAY';
export type UsageGroupBy = 'MODEL' | 'API_KEY' | 'TAG' | null;

const u64 = z.union([z.string(), z.number()]).transform((v) => BigInt(v));

const usageRowSchema = z.object({
  key: z.string(),
  b: z.coerce.number(),
  requests: u64,
  error_requests: u64,
  items: u64,
  ok_items: u64,
  input_bytes: u64,
  output_bytes: u64,
  compute_us: u64,
});
export type UsageRow = z.infer<typeof usageRowSchema>;

/**
 * Rows of large results: zod checks the shape of the first row (columns and types come from our
 * own SQL, so one row proves the contract); the rest are converted by a plain loop — per-row zod
 * parsing of thousands of rows was the largest allocation cost of the API path.
 */
function convertRows<T>(rows: Array<Record<string, unknown>>, schema: z.ZodType<T>, convert: (r: Record<string, unknown>) => T): T[] {
  if (rows.length > 0) schema.parse(rows[0]);
  return rows.map(convert);
}

const big = (v: unknown) => BigInt(v as string | number);

function usageRow(r: Record<string, unknown>): UsageRow {
  return {
    key: r.key as string,
    b: Number(r.b),
    requests: big(r.requests),
    error_requests: big(r.error_requests),
    items: big(r.items),
    ok_items: big(r.ok_items),
    input_bytes: big(r.input_bytes),
    output_bytes: big(r.output_bytes),
    compute_us: big(r.compute_us),
  };
}

// items: every request's (failed and refused ones too); ok_items: served, what quotas and billing count.
const USAGE_SUMS = sql`sum(requests) AS requests, sum(error_requests) AS error_requests, sum(items) AS items, sum(ok_items) AS ok_items,
  sum(input_bytes) AS input_bytes, sum(output_bytes) AS output_bytes, sum(billed_compute_us) AS compute_us`;

const rollupTable: Record<Granularity, Sql> = {
  MINUTE: sql`usage_minute_v1`,
  HOUR: sql`usage_hourly_v1`,
  DAY: sql`usage_daily_v1`,
};

const groupExpr: Record<'MODEL' | 'API_KEY' | 'NONE', Sql> = {
  MODEL: sql`model`,
  API_KEY: sql`api_key_id`,
  NONE: sql`''`,
};

/** The most points one series may have: bounds the range per granularity. */
export const MAX_SPAN_MS: Record<Granularity, number> = {
  MINUTE: 24 * 3_600_000,
  HOUR: 31 * 24 * 3_600_000,
  DAY: 400 * 24 * 3_600_000,
};

export const MAX_USAGE_ROWS = 50_000;

/** Usage sums per (group, bucket) for one tenant. TAG grouping reads the hourly tag rollup (HOUR or DAY only). */
export async function usageSeries(
  ch: ClickHouse,
  q: { tenantId: string; from: Date; to: Date; granularity: Granularity; groupBy: UsageGroupBy; tagKey?: string | null },
): Promise<UsageRow[]> {
  return convertRows(await ch.query<Record<string, unknown>>(usageSeriesSql(q)), usageRowSchema, usageRow);
}

/** The SQL of usageSeries (exported so the benchmark can issue the very same query directly). */
export function usageSeriesSql(q: { tenantId: string; from: Date; to: Date; granularity: Granularity; groupBy: UsageGroupBy; tagKey?: string | null }): Sql {
  let query: Sql;
  if (q.groupBy === 'TAG') {
    const bucket = q.granularity === 'DAY' ? sql`toStartOfDay(bucket)` : sql`bucket`;
    query = sql`SELECT tag_value AS key, toUnixTimestamp(${bucket}) AS b, ${USAGE_SUMS}
      FROM usage_tags_hourly_v1
      WHERE tenant_id = ${q.tenantId} AND bucket >= ${q.from} AND bucket < ${q.to} AND tag_key = ${q.tagKey ?? ''}
      GROUP BY key, b ORDER BY key, b LIMIT ${MAX_USAGE_ROWS}`;
  } else {
    const group = groupExpr[q.groupBy ?? 'NONE'];
    query = sql`SELECT ${group} AS key, toUnixTimestamp(bucket) AS b, ${USAGE_SUMS}
      FROM ${rollupTable[q.granularity]}
      WHERE tenant_id = ${q.tenantId} AND bucket >= ${q.from} AND bucket < ${q.to}
      GROUP BY key, b ORDER BY key, b LIMIT ${MAX_USAGE_ROWS}`;
  }
  return query;
}

const latencyTable: Record<Granularity, Sql> = {
  MINUTE: sql`usage_latency_minute_v1`,
  HOUR: sql`usage_latency_hourly_v1`,
  DAY: sql`usage_latency_daily_v1`,
};

const latencyRowSchema = z.object({ key: z.string(), b: z.coerce.number(), q: z.array(z.coerce.number()).length(4), max_us: z.coerce.number() });
/** Latency of served requests (queue + compute) in one bucket, microseconds. */
export interface LatencyRow {
  key: string;
  b: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Latency quantiles per (group, bucket) from the t-digest rollups (003_usage_latency.sql), which
 * hold served requests only; buckets without one (max 0) are left out. No TAG grouping: latency
 * is not kept per tag.
 */
export async function latencySeries(
  ch: ClickHouse,
  q: { tenantId: string; from: Date; to: Date; granularity: Granularity; groupBy: Exclude<UsageGroupBy, 'TAG'> },
): Promise<LatencyRow[]> {
  const group = groupExpr[q.groupBy ?? 'NONE'];
  const rows = await ch.query<Record<string, unknown>>(
    sql`SELECT ${group} AS key, toUnixTimestamp(bucket) AS b, quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_us) AS q, maxMerge(latency_max_us) AS max_us
      FROM ${latencyTable[q.granularity]}
      WHERE tenant_id = ${q.tenantId} AND bucket >= ${q.from} AND bucket < ${q.to}
      GROUP BY key, b HAVING max_us > 0 ORDER BY key, b LIMIT ${MAX_USAGE_ROWS}`,
  );
  if (rows.length > 0) latencyRowSchema.parse(rows[0]); // the shape of our own SQL: one row proves it (see convertRows)
  return rows.map((r) => {
    const qs = (r.q as Array<number | string>).map(Number);
    return { key: r.key as string, b: Number(r.b), p50: qs[0]!, p90: qs[1]!, p95: qs[2]!, p99: qs[3]!, max: Number(r.max_us) };
  });
}

const spanSchema = z.object({
  TraceId: z.string(),
  SpanId: z.string(),
  ParentSpanId: z.string(),
  SpanName: z.string(),
  SpanKind: z.string(),
  ServiceName: z.string(),
  TimestampNs: z.union([z.string(), z.number()]).transform(String),
  Duration: z.union([z.string(), z.number()]).transform(Number),
  StatusCode: z.string(),
  StatusMessage: z.string(),
  SpanAttributesKeys: z.array(z.string()),
  SpanAttributesValues: z.array(z.string()),
  'Events.Name': z.array(z.string()),
  'Events.Timestamp': z.array(z.union([z.string(), z.number()]).transform(String)),
});
export type SpanRow = z.infer<typeof spanSchema>;

export const MAX_SPANS = 1000;

/** All spans of one trace of one tenant, located through the trace-id index. Empty when the tenant has no such trace. */
export async function traceSpans(ch: ClickHouse, q: { tenantId: string; traceId: string; from: Date; to: Date }): Promise<SpanRow[]> {
  const bounds = await ch.query(
    sql`SELECT toUnixTimestamp(minMerge(Start)) AS s, toUnixTimestamp(maxMerge(End)) AS e
      FROM otel_traces_trace_id_ts_v1
      WHERE TenantId = ${q.tenantId} AND TraceId = ${q.traceId} AND Day >= toDate(${q.from}) AND Day <= toDate(${q.to})
      GROUP BY TenantId, TraceId`,
    { schema: z.object({ s: z.coerce.number(), e: z.coerce.number() }) },
  );
  const b = bounds[0];
  if (!b) return [];
  return ch.query(
    sql`SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, TimestampNs, Duration, StatusCode, StatusMessage,
        SpanAttributesKeys, SpanAttributesValues, Events.Name, Events.Timestamp
      FROM otel_traces_v1
      WHERE TenantId = ${q.tenantId} AND Timestamp >= ${new Date(b.s * 1000)} AND Timestamp <= ${new Date(b.e * 1000)} AND TraceId = ${q.traceId}
      ORDER BY TimestampNs LIMIT ${MAX_SPANS}`,
    { schema: spanSchema },
  );
}

/** The trace id recorded on a request's usage event (request id or event id), searched within [from, to). */
export async function traceIdOfRequest(ch: ClickHouse, q: { tenantId: string; requestId: string; from: Date; to: Date }): Promise<string | null> {
  const rows = await ch.query(
    sql`SELECT trace_id FROM usage_events_v1
      WHERE tenant_id = ${q.tenantId} AND ts >= ${q.from} AND ts < ${q.to} AND (request_id = ${q.requestId} OR event_id = ${q.requestId}) AND trace_id != ''
      LIMIT 1`,
    { schema: z.object({ trace_id: z.string() }) },
  );
  return rows[0]?.trace_id ?? null;
}
