/** Direct ClickHouse inserts for GraphQL tests (the materialized views fill the rollups). */
import { randomBytes, randomUUID } from 'node:crypto';
import { tables, usageEventColumns, type ClickHouse } from '../../src/clickhouse/index.js';

export interface EventSpec {
  tenantId: string;
  apiKeyId?: string;
  model?: string;
  ts: Date;
  status?: 'ok' | 'error' | 'client_error';
  items?: number;
  computeUs?: number;
  device?: 'cpu' | 'cuda';
  tags?: Record<string, string>;
  requestId?: string;
  traceId?: string;
  inputBytes?: number;
  outputBytes?: number;
}

export async function insertEvents(ch: ClickHouse, events: EventSpec[]): Promise<void> {
  const rows = events.map((e) => {
    const tagKeys = Object.keys(e.tags ?? {}).sort();
    const ms = e.ts.getTime();
    return {
      event_id: randomUUID(),
      batch_id: 'test',
      tenant_id: e.tenantId,
      api_key_id: e.apiKeyId ?? '',
      request_id: e.requestId ?? randomUUID(),
      model: e.model ?? 'm1',
      model_version: '1',
      ts: Math.floor(ms / 1000),
      ts_ms: ms,
      status: e.status ?? 'ok',
      http_status: e.status === 'client_error' ? 400 : e.status === 'error' ? 500 : 200,
      items: e.items ?? 1,
      input_bytes: e.inputBytes ?? 100,
      output_bytes: e.outputBytes ?? 10,
      queue_us: 5,
      compute_us: e.computeUs ?? 1000,
      billed_compute_us: e.computeUs ?? 1000,
      batch_size: 1,
      device: e.device ?? 'cpu',
      tag_keys: tagKeys,
      tag_values: tagKeys.map((k) => e.tags![k]!),
      trace_id: e.traceId ?? '',
    };
  });
  await ch.insert(tables.usageEvents, rows, { columns: usageEventColumns });
}

export function randomTraceId(): string {
  return randomBytes(16).toString('hex');
}

/** One span of `traceId` for a tenant at `at`. */
export async function insertSpan(ch: ClickHouse, s: { tenantId: string; traceId: string; at: Date; name?: string; parentSpanId?: string }): Promise<string> {
  const spanId = randomBytes(8).toString('hex');
  const ns = BigInt(s.at.getTime()) * 1_000_000n;
  await ch.insert(tables.otelTraces, [
    {
      TenantId: s.tenantId,
      Timestamp: Math.floor(s.at.getTime() / 1000),
      TimestampNs: ns.toString(),
      TraceId: s.traceId,
      SpanId: spanId,
      ParentSpanId: s.parentSpanId ?? '',
      TraceState: '',
      SpanName: s.name ?? 'POST /v2/models/m1/infer',
      SpanKind: 'Server',
      ServiceName: 'tollgate',
      ResourceAttributesKeys: ['service.name'],
      ResourceAttributesValues: ['tollgate'],
      ScopeName: 'test',
      ScopeVersion: '1',
      SpanAttributesKeys: ['tenant.id', 'model'],
      SpanAttributesValues: [s.tenantId, 'm1'],
      Duration: 1_500_000,
      StatusCode: 'Ok',
      StatusMessage: '',
      'Events.Timestamp': [ns.toString()],
      'Events.Name': ['queued'],
      'Events.AttributesKeys': [[]],
      'Events.AttributesValues': [[]],
      'Links.TraceId': [],
      'Links.SpanId': [],
      'Links.TraceState': [],
      'Links.AttributesKeys': [],
      'Links.AttributesValues': [],
    },
  ]);
  return spanId;
}
