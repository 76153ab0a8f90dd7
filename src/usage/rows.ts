/**
 * How a UsageRecord becomes a `usage_events_v1` row (JSONEachRow), and the names of the
 * columns metering reads back. One place, so a column rename touches one file.
 */
import type { UsageRecord } from './contract.js';
import { tables, usageEventColumns } from '../clickhouse/index.js';

export const USAGE_TABLE = tables.usageEvents;
/** Named on insert so inserted_at gets its DEFAULT (JSONEachRow would give it the zero value). */
export const USAGE_COLUMNS = usageEventColumns;

export interface UsageRow {
  event_id: string;
  batch_id: string;
  tenant_id: string;
  api_key_id: string;
  request_id: string;
  model: string;
  model_version: string;
  ts: number;
  ts_ms: number;
  status: string;
  http_status: number;
  items: number;
  input_bytes: number;
  output_bytes: number;
  queue_us: number;
  compute_us: number;
  batch_size: number;
  billed_compute_us: number;
  device: string;
  trace_id: string;
  tag_keys: string[];
  tag_values: string[];
}

export function toUsageRow(rec: UsageRecord, batchId: string): UsageRow {
  const tagKeys = Object.keys(rec.tags ?? {}).sort();
  return {
    event_id: rec.eventId,
    batch_id: batchId,
    tenant_id: rec.tenantId,
    api_key_id: rec.apiKeyId,
    request_id: rec.requestId,
    model: rec.model,
    model_version: rec.modelVersion,
    ts: Math.floor(rec.ts / 1000),
    ts_ms: rec.ts,
    status: rec.status,
    http_status: rec.httpStatus,
    items: rec.items,
    input_bytes: rec.inputBytes,
    output_bytes: rec.outputBytes,
    queue_us: rec.queueUs,
    compute_us: rec.computeUs,
    batch_size: rec.batchSize,
    billed_compute_us: rec.billedComputeUs,
    device: rec.device,
    trace_id: rec.traceId ?? '',
    tag_keys: tagKeys,
    tag_values: tagKeys.map((k) => rec.tags[k]!),
  };
}
