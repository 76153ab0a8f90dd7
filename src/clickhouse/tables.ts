/**
 * Names of the ClickHouse tables the migrations create, and their insert column lists.
 * Writers pass `columns` from here: JSONEachRow gives omitted fields the type's zero value,
 * not the DEFAULT, so naming the columns is what makes defaults (inserted_at) apply.
 */
export const tables = {
  usageEvents: 'usage_events_v1',
  usageMinute: 'usage_minute_v1',
  usageHourly: 'usage_hourly_v1',
  usageDaily: 'usage_daily_v1',
  usageLatencyMinute: 'usage_latency_minute_v1',
  usageLatencyHourly: 'usage_latency_hourly_v1',
  usageLatencyDaily: 'usage_latency_daily_v1',
  usageTagsHourly: 'usage_tags_hourly_v1',
  otelTraces: 'otel_traces_v1',
  otelTraceIdTs: 'otel_traces_trace_id_ts_v1',
  anomalyScores: 'anomaly_scores_v1',
  usageRejectionsMinute: 'usage_rejections_minute_v1',
} as const;

export type TableName = (typeof tables)[keyof typeof tables];
export const tableNames: readonly TableName[] = Object.values(tables);

/** usage_events_v1 columns a writer sends (inserted_at is left to DEFAULT now()). */
export const usageEventColumns = [
  'event_id', 'batch_id', 'tenant_id', 'api_key_id', 'request_id', 'model', 'model_version',
  'ts', 'ts_ms', 'status', 'http_status', 'items', 'input_bytes', 'output_bytes', 'queue_us',
  'compute_us', 'billed_compute_us', 'batch_size', 'device', 'tag_keys', 'tag_values', 'trace_id',
] as const;

/** The summed columns of usage_{minute,hourly,daily}_v1 and usage_tags_hourly_v1. */
export const usageSumColumns = [
  'requests', 'ok_requests', 'error_requests', 'client_error_requests', 'rejected_requests',
  'timeout_requests', 'items', 'ok_items', 'input_bytes', 'output_bytes', 'compute_us',
  'billed_compute_us', 'queue_us',
] as const;

/** Quantile levels stored in usage_latency_*_v1.latency_us (read them with the same levels). */
export const latencyLevels = [0.5, 0.9, 0.95, 0.99] as const;

/** otel_traces_v1 columns (Events.* and Links.* are Nested sub-columns, parallel arrays). */
export const otelTraceColumns = [
  'TenantId', 'Timestamp', 'TimestampNs', 'TraceId', 'SpanId', 'ParentSpanId', 'TraceState',
  'SpanName', 'SpanKind', 'ServiceName', 'ResourceAttributesKeys', 'ResourceAttributesValues',
  'ScopeName', 'ScopeVersion', 'SpanAttributesKeys', 'SpanAttributesValues', 'Duration',
  'StatusCode', 'StatusMessage', 'Events.Timestamp', 'Events.Name', 'Events.AttributesKeys',
  'Events.AttributesValues', 'Links.TraceId', 'Links.SpanId', 'Links.TraceState',
  'Links.AttributesKeys', 'Links.AttributesValues',
] as const;

/** anomaly_scores_v1 columns a writer sends (scored_at is left to DEFAULT now()). */
export const anomalyScoreColumns = [
  'tenant_id', 'metric', 'dimension', 'bucket', 'value', 'baseline', 'spread', 'score', 'is_anomaly', 'detector',
] as const;
