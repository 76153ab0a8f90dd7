/**
 * The OTLP/HTTP receiver against real OpenTelemetry JS exporters (OTLP/HTTP JSON and
 * OTLP/HTTP protobuf, gzip), real tenant API keys (Postgres) and ClickHouse read-back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { tracing, resources } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
// Installed with @opentelemetry/sdk-node (same 0.223 line); the SDK's own protobuf exporter.
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { loadOtlpTypes, type OtlpReceiver } from '../../otlp/src/index.js';
import { createTenantWithKey } from '../factories.js';
import { startTestReceiver, type TestReceiver } from './receiver.js';

const INTERNAL_TOKEN = `internal-${randomBytes(16).toString('hex')}`;
const MAX_BODY = 256 * 1024;
let t: TestReceiver;
let receiver: OtlpReceiver;
let url: string;
let ch: ClickHouse;
let tenantA: { id: string; secret: string };
let tenantB: { id: string; secret: string };
const types = loadOtlpTypes();

beforeAll(async () => {
  t = await startTestReceiver({ env: { OTLP_MAX_BODY_BYTES: String(MAX_BODY), OTLP_MAX_ATTRIBUTES: '16' }, internalToken: INTERNAL_TOKEN });
  ({ receiver, url, ch } = t);
  const a = await createTenantWithKey();
  const b = await createTenantWithKey();
  tenantA = { id: a.tenant.id, secret: a.key.secret };
  tenantB = { id: b.tenant.id, secret: b.key.secret };
});

afterAll(() => t?.close());

interface SpanRow {
  TenantId: string;
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  SpanName: string;
  SpanKind: string;
  ServiceName: string;
  TimestampNs: string;
  Duration: string;
  StatusCode: string;
  StatusMessage: string;
  SpanAttributesKeys: string[];
  SpanAttributesValues: string[];
  ResourceAttributesKeys: string[];
  ResourceAttributesValues: string[];
  'Events.Name': string[];
}

async function spansOfTrace(tenantId: string, traceId: string): Promise<SpanRow[]> {
  const from = Math.floor(Date.now() / 1000) - 3600;
  const to = Math.floor(Date.now() / 1000) + 3600;
  return ch.query<SpanRow>(
    sql`SELECT TenantId, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, toString(TimestampNs) AS TimestampNs,
               toString(Duration) AS Duration, StatusCode, StatusMessage, SpanAttributesKeys, SpanAttributesValues,
               ResourceAttributesKeys, ResourceAttributesValues, Events.Name
        FROM otel_traces_v1
        WHERE TenantId = ${tenantId} AND Timestamp >= toDateTime(${from}) AND Timestamp <= toDateTime(${to}) AND TraceId = ${traceId}
        ORDER BY TimestampNs`,
  );
}

async function anyTenantSpans(traceId: string): Promise<number> {
  const from = Math.floor(Date.now() / 1000) - 3600;
  const rows = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM otel_traces_v1 WHERE Timestamp >= toDateTime(${from}) AND TraceId = ${traceId}`);
  return Number(rows[0]?.n ?? 0);
}

const attr = (row: SpanRow, key: string) => row.SpanAttributesValues[row.SpanAttributesKeys.indexOf(key)];
const hrToNs = (t: [number, number]) => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

/** Emits a parent + child span through a real SDK pipeline with the given exporter. */
async function emitTrace(exporter: tracing.SpanExporter, serviceName: string, claimTenant: string) {
  const provider = new tracing.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new tracing.SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('otlp-test', '1.2.3');
  const parent = tracer.startSpan('infer mlp', { kind: SpanKind.SERVER, attributes: { 'tenant.id': claimTenant, model: 'mlp-demo', 'batch.size': 4, ok: true, ratio: 0.25 } });
  const child = tracer.startSpan('session.run', { attributes: { 'compute.us': 1234 } }, trace.setSpan(context.active(), parent));
  child.addEvent('batch formed', { size: 4 });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  child.end();
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
  const p = parent as unknown as tracing.ReadableSpan;
  const c = child as unknown as tracing.ReadableSpan;
  return { parent: p, child: c, traceId: p.spanContext().traceId };
}

describe('OTLP/HTTP receiver', () => {
  it('OTLP/HTTP JSON from the real exporter with a tenant key: spans land under the key\'s tenant with ids, times and attributes intact', async () => {
    const exporter = new JsonExporter({ url, headers: { Authorization: `Bearer ${tenantA.secret}` } });
    // The spans claim tenant B: a tenant key must never write into another tenant.
    const { parent, child, traceId } = await emitTrace(exporter, 'tenant-app', tenantB.id);
    await receiver.flush();
    const rows = await spansOfTrace(tenantA.id, traceId);
    expect(rows).toHaveLength(2);
    const [p, c] = rows.find((r) => r.SpanName === 'infer mlp') === rows[0] ? [rows[0]!, rows[1]!] : [rows[1]!, rows[0]!];
    expect(p.SpanId).toBe(parent.spanContext().spanId);
    expect(p.ParentSpanId).toBe('');
    expect(p.SpanKind).toBe('Server');
    expect(p.ServiceName).toBe('tenant-app');
    expect(p.TimestampNs).toBe(hrToNs(parent.startTime));
    expect(p.Duration).toBe((BigInt(hrToNs(parent.endTime)) - BigInt(hrToNs(parent.startTime))).toString());
    expect(attr(p, 'model')).toBe('mlp-demo');
    expect(attr(p, 'batch.size')).toBe('4');
    expect(attr(p, 'ok')).toBe('true');
    expect(attr(p, 'ratio')).toBe('0.25');
    expect(attr(p, 'tenant.id')).toBe(tenantB.id); // kept as sent, but not trusted
    expect(c.SpanId).toBe(child.spanContext().spanId);
    expect(c.ParentSpanId).toBe(parent.spanContext().spanId);
    expect(c.StatusCode).toBe('Error');
    expect(c.StatusMessage).toBe('boom');
    expect(c['Events.Name']).toEqual(['batch formed']);
    expect(await spansOfTrace(tenantB.id, traceId)).toHaveLength(0);
    expect(await anyTenantSpans(traceId)).toBe(2);
  });

  it('OTLP/HTTP protobuf (gzip) from the real exporter: spans read back under the sending tenant', async () => {
    const exporter = new ProtoExporter({ url, headers: { Authorization: `Bearer ${tenantB.secret}` }, compression: CompressionAlgorithm.GZIP });
    const { parent, child, traceId } = await emitTrace(exporter, 'proto-app', tenantA.id);
    await receiver.flush();
    const rows = await spansOfTrace(tenantB.id, traceId);
    expect(rows.map((r) => r.SpanId).sort()).toEqual([parent.spanContext().spanId, child.spanContext().spanId].sort());
    const p = rows.find((r) => r.SpanName === 'infer mlp')!;
    expect(p.TimestampNs).toBe(hrToNs(parent.startTime));
    expect(attr(p, 'batch.size')).toBe('4');
    expect(p.ResourceAttributesValues[p.ResourceAttributesKeys.indexOf('service.name')]).toBe('proto-app');
    expect(await spansOfTrace(tenantA.id, traceId)).toHaveLength(0);
  });

  it('the internal principal keeps each span\'s tenant.id; unknown credentials get 401', async () => {
    const traceId = randomBytes(16).toString('hex');
    const now = BigInt(Date.now()) * 1_000_000n;
    const span = (tenant: string, n: number) => ({
      traceId,
      spanId: randomBytes(8).toString('hex'),
      name: `internal-${n}`,
      kind: 2,
      startTimeUnixNano: String(now),
      endTimeUnixNano: String(now + 5000n),
      attributes: [{ key: 'tenant.id', value: { stringValue: tenant } }],
    });
    const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'tollgate' } }] }, scopeSpans: [{ spans: [span(tenantA.id, 1), span(tenantB.id, 2)] }] }] };
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${INTERNAL_TOKEN}` }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    await receiver.flush();
    expect((await spansOfTrace(tenantA.id, traceId)).map((r) => r.SpanName)).toEqual(['internal-1']);
    expect((await spansOfTrace(tenantB.id, traceId)).map((r) => r.SpanName)).toEqual(['internal-2']);

    for (const headers of [{}, { authorization: 'Bearer not-a-real-key' }, { authorization: `Bearer ${INTERNAL_TOKEN}x` }]) {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      expect(r.status).toBe(401);
    }
  });

  it('answers partial success (JSON and protobuf) for spans it rejects: bad ids, too many attributes', async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const good = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), name: 'good', startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1n) };
    const badId = { ...good, spanId: 'abc', name: 'bad-id' };
    const tooMany = { ...good, spanId: randomBytes(8).toString('hex'), name: 'too-many', attributes: Array.from({ length: 17 }, (_, i) => ({ key: `k${i}`, value: { intValue: i } })) };
    const body = { resourceSpans: [{ scopeSpans: [{ spans: [good, badId, tooMany] }] }] };
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tenantA.secret}` }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(Number(json.partialSuccess.rejectedSpans)).toBe(2);
    expect(json.partialSuccess.errorMessage).toMatch(/spanId/);
    expect(json.partialSuccess.errorMessage).toMatch(/attributes \(limit 16\)/);

    // Same request in protobuf: the answer is a protobuf ExportTraceServiceResponse.
    const pb = types.request.encode(
      types.request.fromObject({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { traceId: Buffer.from(good.traceId, 'hex'), spanId: randomBytes(8), name: 'good-pb', startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1n) },
                  { traceId: Buffer.alloc(3), spanId: randomBytes(8), name: 'bad-pb', startTimeUnixNano: String(now) },
                ],
              },
            ],
          },
        ],
      }),
    ).finish();
    const res2 = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${tenantA.secret}` }, body: pb });
    expect(res2.status).toBe(200);
    expect(res2.headers.get('content-type')).toMatch(/application\/x-protobuf/);
    const decoded = types.response.toObject(types.response.decode(new Uint8Array(await res2.arrayBuffer())), { longs: String }) as { partialSuccess: { rejectedSpans: string } };
    expect(decoded.partialSuccess.rejectedSpans).toBe('1');
    await receiver.flush();
    expect((await spansOfTrace(tenantA.id, good.traceId)).map((r) => r.SpanName).sort()).toEqual(['good', 'good-pb']);
  });

  it('malformed bodies get 400/413/415 and the receiver stays up', async () => {
    const key = { authorization: `Bearer ${tenantA.secret}` };
    const post = (headers: Record<string, string>, body: Uint8Array | string) => fetch(url, { method: 'POST', headers: { ...key, ...headers }, body });
    expect((await post({ 'content-type': 'application/x-protobuf' }, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]))).status).toBe(400);
    expect((await post({ 'content-type': 'application/json' }, '{"resourceSpans": [')).status).toBe(400);
    expect((await post({ 'content-type': 'application/json' }, '{"resourceSpans": 5}')).status).toBe(400);
    expect((await post({ 'content-type': 'application/json' }, '[1,2]')).status).toBe(400);
    expect((await post({ 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'not gzip')).status).toBe(400);
    expect((await post({ 'content-type': 'text/plain' }, 'hello')).status).toBe(415);
    expect((await post({ 'content-type': 'application/json', 'content-encoding': 'br' }, '{}')).status).toBe(415);
    const big = JSON.stringify({ resourceSpans: [], pad: 'x'.repeat(MAX_BODY) });
    expect((await post({ 'content-type': 'application/json' }, big)).status).toBe(413);
    // A small gzip body that inflates past the limit.
    expect((await post({ 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync(Buffer.from(big)))).status).toBe(413);
    const errBody = await (await post({ 'content-type': 'application/json' }, '{')).json();
    expect(errBody).toMatchObject({ code: 3, message: expect.stringMatching(/JSON/) });
    // Still serving.
    const ok = await post({ 'content-type': 'application/json' }, '{"resourceSpans": []}');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({});
  });
});
