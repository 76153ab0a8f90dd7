/**
 * startTracing (sdk-node + OTLP/HTTP exporter) -> Tollgate's own receiver with the internal
 * token: spans keep their tenant.id, logs carry the active trace/span ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { context, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { createClickHouse, sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/index.js';
import { createOtlpReceiver, type OtlpReceiver } from '../../otlp/src/index.js';
import { startTracing, type Tracing } from '../../src/telemetry/index.js';

const token = `internal-${randomBytes(16).toString('hex')}`;
let receiver: OtlpReceiver;
let tracingHandle: Tracing;
let ch: ClickHouse;
const lines: string[] = [];

beforeAll(async () => {
  // The test harness disables the SDK for every other file; NodeSDK reads this variable itself.
  process.env.OTEL_SDK_DISABLED = 'false';
  const base = loadConfig({ ...process.env, OTLP_FLUSH_INTERVAL_MS: '100' });
  ch = createClickHouse(base);
  receiver = createOtlpReceiver({ config: base, logger: createLogger({ level: 'silent' }), clickhouse: ch, authenticate: async () => null, internalToken: token });
  const { port } = await receiver.listen(0, '127.0.0.1');
  const config = loadConfig({ ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_SERVICE_NAME: 'tollgate-test' });
  tracingHandle = startTracing({ config, logger: createLogger({ level: 'silent' }), internalToken: token, ownReceiverPort: port, resourceAttributes: { 'tollgate.roles': 'inference' } });
});

afterAll(async () => {
  await tracingHandle?.shutdown();
  await receiver?.close();
  await ch?.close();
});

describe('tracing', () => {
  it('exports spans to the receiver as the internal principal; each keeps its tenant.id; logs carry trace and span ids', async () => {
    expect(tracingHandle.enabled).toBe(true);
    const tenantId = randomUUID();
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const logger = createLogger({ level: 'info', destination: sink });
    const span = tracingHandle.tracer.startSpan('inference mlp-demo', { attributes: { 'tenant.id': tenantId, model: 'mlp-demo', 'queue.us': 12 } });
    context.with(trace.setSpan(context.active(), span), () => logger.info('inside the span'));
    span.end();
    await tracingHandle.forceFlush();
    await receiver.flush();
    const { traceId, spanId } = span.spanContext();
    const from = Math.floor(Date.now() / 1000) - 600;
    const rows = await ch.query<{ TenantId: string; SpanId: string; ServiceName: string; SpanName: string }>(
      sql`SELECT TenantId, SpanId, ServiceName, SpanName FROM otel_traces_v1 WHERE TenantId = ${tenantId} AND Timestamp >= toDateTime(${from}) AND TraceId = ${traceId}`,
    );
    expect(rows).toEqual([{ TenantId: tenantId, SpanId: spanId, ServiceName: 'tollgate-test', SpanName: 'inference mlp-demo' }]);
    const logged = JSON.parse(lines.find((l) => l.includes('inside the span'))!) as { trace_id: string; span_id: string };
    expect(logged.trace_id).toBe(traceId);
    expect(logged.span_id).toBe(spanId);
  });

  it('records and exports a server span whose remote parent says sampled=0, linked to the client trace', async () => {
    expect(tracingHandle.sendsInternalToken).toBe(true);
    const tenantId = randomUUID();
    const client = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.NONE, isRemote: true };
    const parent = trace.setSpanContext(context.active(), client);
    const span = tracingHandle.tracer.startSpan('oip.infer', { kind: SpanKind.SERVER, attributes: { 'tenant.id': tenantId } }, parent);
    expect(span.isRecording()).toBe(true);
    expect(span.spanContext().traceId).toBe(client.traceId);
    expect(span.spanContext().traceFlags & TraceFlags.SAMPLED).toBe(TraceFlags.SAMPLED);
    span.end();
    await tracingHandle.forceFlush();
    await receiver.flush();
    const from = Math.floor(Date.now() / 1000) - 600;
    const rows = await ch.query<{ TraceId: string; ParentSpanId: string; SpanName: string }>(
      sql`SELECT TraceId, ParentSpanId, SpanName FROM otel_traces_v1 WHERE TenantId = ${tenantId} AND Timestamp >= toDateTime(${from}) AND TraceId = ${client.traceId}`,
    );
    expect(rows).toEqual([{ TraceId: client.traceId, ParentSpanId: client.spanId, SpanName: 'oip.infer' }]);
  });
});
