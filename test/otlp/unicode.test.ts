/**
 * A lone UTF-16 surrogate in an OTLP/JSON string must not poison the span writer: ClickHouse
 * refuses a whole JSONEachRow insert that carries one, and the writer would retry that batch
 * (and every other tenant's spans in it) forever. Such strings are stored with U+FFFD.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { sql, type ClickHouse } from '../../src/clickhouse/index.js';
import type { OtlpReceiver } from '../../otlp/src/index.js';
import { createTenantWithKey } from '../factories.js';
import { startTestReceiver, type TestReceiver } from './receiver.js';

let t: TestReceiver;
let receiver: OtlpReceiver;
let url: string;
let ch: ClickHouse;

beforeAll(async () => {
  t = await startTestReceiver();
  ({ receiver, url, ch } = t);
});

afterAll(() => t?.close());

/** OTLP/JSON text with one span whose name and attribute value are given raw (so lone surrogates survive JSON). */
function body(traceId: string, nameJson: string, valueJson: string): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  return `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"unicode-test"}}]},
    "scopeSpans":[{"scope":{"name":"t"},"spans":[{"traceId":"${traceId}","spanId":"${randomBytes(8).toString('hex')}",
    "name":${nameJson},"kind":1,"startTimeUnixNano":"${now}","endTimeUnixNano":"${now + 1000n}",
    "attributes":[{"key":"k","value":{"stringValue":${valueJson}}}]}]}]}]}`;
}

async function post(secret: string, text: string) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: text });
}

describe('OTLP strings with lone surrogates', () => {
  it('are stored with U+FFFD and do not block the spans sent after them', async () => {
    const { tenant, key } = await createTenantWithKey();
    const bad = randomBytes(16).toString('hex');
    const good = randomBytes(16).toString('hex');
    expect((await post(key.secret, body(bad, '"x\\ud800y"', '"\\udfffz"'))).status).toBe(200);
    expect((await post(key.secret, body(good, '"fine"', '"ok"'))).status).toBe(200);
    await receiver.flush();
    const rows = await ch.query<{ TraceId: string; SpanName: string; v: string[] }>(
      sql`SELECT TraceId, SpanName, SpanAttributesValues AS v FROM otel_traces_v1
          WHERE TenantId = ${tenant.id} AND Timestamp >= now() - 3600 AND TraceId IN (${bad}, ${good}) ORDER BY SpanName`,
    );
    expect(rows).toEqual([
      { TraceId: good, SpanName: 'fine', v: ['ok'] },
      { TraceId: bad, SpanName: 'x\ufffdy', v: ['\ufffdz'] },
    ]);
  });
});
