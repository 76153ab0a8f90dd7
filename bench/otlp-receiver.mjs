#!/usr/bin/env node
// OTLP receiver throughput: spans/s from POST /v1/traces (protobuf, 512 spans per request like
// the SDK's batch processor, 4 concurrent senders) until every span is in otel_traces_v1, on a
// private ClickHouse database. Also runs the same with OTLP/JSON bodies.
//   node bench/otlp-receiver.mjs          (BENCH_SPANS, default 300000 per encoding)
import { randomBytes, randomUUID } from 'node:crypto';
import { benchConfig, dropDatabase, fmt, load, transpile } from './usage-lib.mjs';

const TOTAL = Number(process.env.BENCH_SPANS ?? 300_000);
const PER_REQUEST = 512;
const SENDERS = 4;
transpile();
const { createLogger } = await load('src/shared/logger.js');
const { createClickHouse, sql } = await load('src/clickhouse/index.js');
const { createOtlpReceiver, loadOtlpTypes } = await load('src/telemetry/index.js');

const token = randomBytes(24).toString('hex');
const config = await benchConfig({ OTLP_FLUSH_MAX_ROWS: '20000', OTLP_FLUSH_INTERVAL_MS: '200' });
const types = loadOtlpTypes();
const tenants = Array.from({ length: 8 }, () => randomUUID());

function request(i) {
  const now = BigInt(Date.now()) * 1_000_000n;
  const traceId = randomBytes(16);
  const spans = Array.from({ length: PER_REQUEST }, (_, j) => ({
    traceId,
    spanId: randomBytes(8),
    parentSpanId: j ? randomBytes(8) : undefined,
    name: j % 2 ? 'oip.infer' : 'session.run',
    kind: 2,
    startTimeUnixNano: String(now + BigInt(j * 1000)),
    endTimeUnixNano: String(now + BigInt(j * 1000 + 250_000)),
    attributes: [
      { key: 'tenant.id', value: { stringValue: tenants[(i + j) % tenants.length] } },
      { key: 'tollgate.api_key.id', value: { stringValue: '00000000-0000-4000-8000-00000000000a' } },
      { key: 'model', value: { stringValue: 'mlp-demo' } },
      { key: 'model.version', value: { stringValue: '1' } },
      { key: 'batch.size', value: { intValue: 16 } },
      { key: 'queue.us', value: { intValue: 120 + j } },
      { key: 'compute.us', value: { intValue: 900 + j } },
      { key: 'device', value: { stringValue: 'cpu' } },
    ],
    status: { code: 1 },
  }));
  return { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'tollgate' } }] }, scopeSpans: [{ scope: { name: 'tollgate', version: '0.1.0' }, spans }] }] };
}

function toJson(req) {
  const hex = (b) => (b ? Buffer.from(b).toString('hex') : undefined);
  return JSON.stringify({
    resourceSpans: req.resourceSpans.map((rs) => ({
      ...rs,
      scopeSpans: rs.scopeSpans.map((ss) => ({ ...ss, spans: ss.spans.map((s) => ({ ...s, traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId) })) })),
    })),
  });
}

async function run(encoding) {
  const clickhouse = createClickHouse(config);
  const receiver = createOtlpReceiver({ config, logger: createLogger({ level: 'silent' }), clickhouse, authenticate: async () => null, internalToken: token });
  const { port } = await receiver.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}/v1/traces`;
  const bodies = Array.from({ length: 16 }, (_, i) => {
    const req = request(i);
    return encoding === 'protobuf' ? types.request.encode(types.request.fromObject(req)).finish() : Buffer.from(toJson(req));
  });
  const contentType = encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json';
  const requests = Math.ceil(TOTAL / PER_REQUEST);
  let next = 0;
  let retried = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: SENDERS }, async () => {
    while (next < requests) {
      const body = bodies[next++ % bodies.length];
      for (;;) {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${token}` }, body });
        await res.arrayBuffer();
        if (res.status === 200) break;
        if (res.status !== 503) throw new Error(`receiver answered ${res.status}`);
        retried++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }));
  const accepted = performance.now();
  await receiver.flush();
  const s = (performance.now() - t) / 1000;
  await receiver.close();
  const [row] = await clickhouse.query(sql`SELECT count() AS n FROM otel_traces_v1 WHERE Timestamp >= toDateTime(${Math.floor(Date.now() / 1000) - 3600})`);
  await clickhouse.close();
  return { spans: requests * PER_REQUEST, rate: (requests * PER_REQUEST) / s, acceptRate: (requests * PER_REQUEST) / ((accepted - t) / 1000), retried, stored: Number(row.n) };
}

try {
  const pb = await run('protobuf');
  console.log(`OTLP protobuf: ${fmt(pb.spans)} spans, ${fmt(pb.rate)} spans/s into ClickHouse (accepted at ${fmt(pb.acceptRate)}/s, ${pb.retried} 503 retries)`);
  const json = await run('json');
  console.log(`OTLP JSON:     ${fmt(json.spans)} spans, ${fmt(json.rate)} spans/s into ClickHouse (accepted at ${fmt(json.acceptRate)}/s, ${json.retried} 503 retries)`);
  console.log(`stored rows: ${fmt(json.stored)} (expected ${fmt(pb.spans + json.spans)})`);
  console.log(`RATIO protobuf spans/s / 25,000 target: ${(pb.rate / 25_000).toFixed(2)}`);
} finally {
  await dropDatabase(config);
}
