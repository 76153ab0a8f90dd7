/**
 * The otel_traces_v1 row (column names as the OpenTelemetry Collector's ClickHouse exporter
 * spells them) and the rule for which span start times the table accepts. Edges that receive
 * spans (the OTLP receiver) convert to this shape; span-writer.ts inserts it.
 */

export interface OtelSpanRow {
  TenantId: string;
  Timestamp: number;
  TimestampNs: string;
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  TraceState: string;
  SpanName: string;
  SpanKind: string;
  ServiceName: string;
  ResourceAttributesKeys: string[];
  ResourceAttributesValues: string[];
  ScopeName: string;
  ScopeVersion: string;
  SpanAttributesKeys: string[];
  SpanAttributesValues: string[];
  Duration: string;
  StatusCode: string;
  StatusMessage: string;
  'Events.Timestamp'?: string[];
  'Events.Name'?: string[];
  'Events.AttributesKeys'?: string[][];
  'Events.AttributesValues'?: string[][];
  'Links.TraceId'?: string[];
  'Links.SpanId'?: string[];
  'Links.TraceState'?: string[];
  'Links.AttributesKeys'?: string[][];
  'Links.AttributesValues'?: string[][];
}

/**
 * Accepted span start times: [now - 7 d, now + 1 d]. Each day is a partition of otel_traces_v1;
 * far-off times (1970, 2100) would create stray partitions, and a batch touching more than 100
 * makes current ClickHouse refuse the whole insert (max_partitions_per_insert_block).
 */
export const SPAN_MAX_AGE_MS = 7 * 86_400_000;
export const SPAN_MAX_FUTURE_MS = 86_400_000;
