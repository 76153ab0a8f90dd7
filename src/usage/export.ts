/**
 * Raw usage events for finance exports, streamed from ClickHouse row by row (never buffered):
 * a million rows pass through in bounded memory. The columns and their order are a stable,
 * documented contract (USAGE_EXPORT_COLUMNS); add new ones at the end.
 */
import { sql, type ClickHouse } from '../clickhouse/index.js';

/** Export columns, in order. `ts` is ISO-8601 UTC with milliseconds; `tags` a JSON object. */
export const USAGE_EXPORT_COLUMNS = [
  'event_id',
  'request_id',
  'tenant_id',
  'api_key_id',
  'ts',
  'model',
  'model_version',
  'status',
  'http_status',
  'items',
  'input_bytes',
  'output_bytes',
  'queue_us',
  'compute_us',
  'billed_compute_us',
  'batch_size',
  'device',
  'trace_id',
  'tags',
] as const;

export type UsageExportRow = Array<string | number | bigint>;

interface RawRow {
  event_id: string;
  request_id: string;
  tenant_id: string;
  api_key_id: string;
  ts_ms: string;
  model: string;
  model_version: string;
  status: string;
  http_status: number;
  items: number;
  input_bytes: string;
  output_bytes: string;
  queue_us: string;
  compute_us: string;
  billed_compute_us: string;
  batch_size: number;
  device: string;
  trace_id: string;
  tag_keys: string[];
  tag_values: string[];
}

export interface UsageExportQuery {
  /** One tenant, or null for every tenant (platform operators). */
  tenantId: string | null;
  /** [from, to) in epoch milliseconds. */
  from: number;
  to: number;
}

/**
 * Rows of `usage_events_v1` with ts in [from, to), in (tenant, time, event id) order — the
 * table's sort key, so the server reads in order. Values are as stored (UInt64 as decimal text).
 */
export async function* streamUsageEvents(clickhouse: ClickHouse, q: UsageExportQuery): AsyncGenerator<UsageExportRow, void, undefined> {
  const tenant = q.tenantId === null ? sql`1` : sql`tenant_id = ${q.tenantId}`;
  const rows = clickhouse.stream<RawRow>(
    sql`SELECT event_id, request_id, tenant_id, api_key_id, ts_ms, model, model_version, status, http_status, items,
               input_bytes, output_bytes, queue_us, compute_us, billed_compute_us, batch_size, device, trace_id, tag_keys, tag_values
        FROM usage_events_v1
        WHERE ${tenant} AND ts >= toDateTime(${Math.floor(q.from / 1000)}) AND ts < toDateTime(${Math.ceil(q.to / 1000)})
          AND ts_ms >= ${q.from} AND ts_ms < ${q.to}
        ORDER BY tenant_id, ts, event_id`,
    // Streaming a long range may take longer than an interactive query.
    { settings: { max_execution_time: 3600 } },
  );
  for await (const r of rows) {
    const tags: Record<string, string> = {};
    r.tag_keys.forEach((k, i) => (tags[k] = r.tag_values[i] ?? ''));
    yield [
      r.event_id,
      r.request_id,
      r.tenant_id,
      r.api_key_id,
      new Date(Number(r.ts_ms)).toISOString(),
      r.model,
      r.model_version,
      r.status,
      r.http_status,
      r.items,
      BigInt(r.input_bytes),
      BigInt(r.output_bytes),
      BigInt(r.queue_us),
      BigInt(r.compute_us),
      BigInt(r.billed_compute_us),
      r.batch_size,
      r.device,
      r.trace_id,
      JSON.stringify(tags),
    ];
  }
}
