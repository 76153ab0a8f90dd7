/**
 * Issue 17.9 as attacks against the real OTLP receiver (HTTP, tenant API keys in Postgres,
 * ClickHouse read-back). Before the fix one member key stored 430k spans in 10 s and filled the
 * shared buffer: 503 for every tenant and for Tollgate's own spans; unauthenticated bodies were
 * buffered before the credentials were checked. Now each tenant has a span rate, a byte rate
 * (charged from the declared length before the body is read) and a share of the buffer; a flood
 * gets 429 + Retry-After while another tenant's spans and Tollgate's own still land.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { sql } from '../../src/clickhouse/index.js';
import { createTenantWithKey } from '../factories.js';
import { startTestReceiver, type TestReceiver } from '../otlp/receiver.js';

const INTERNAL = `internal-${randomBytes(16).toString('hex')}`;

function body(tenantAttr: string | null, n: number, traceId: string): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans = Array.from({ length: n }, (_, i) => ({
    traceId,
    spanId: randomBytes(8).toString('hex'),
    name: `s${i}`,
    kind: 2,
    startTimeUnixNano: String(now),
    endTimeUnixNano: String(now + 1000n),
    attributes: tenantAttr ? [{ key: 'tenant.id', value: { stringValue: tenantAttr } }] : [],
  }));
  return JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
}

async function post(url: string, credential: string, payload: string) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` }, body: payload });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

async function stored(t: TestReceiver, tenantId: string, traceId: string): Promise<number> {
  await t.receiver.flush();
  const rows = await t.ch.query<{ n: string }>(sql`SELECT count() AS n FROM otel_traces_v1 WHERE TenantId = ${tenantId} AND Timestamp >= toDateTime(${Math.floor(Date.now() / 1000) - 3600}) AND TraceId = ${traceId}`);
  return Number(rows[0]?.n ?? 0);
}

describe('17.9: per-tenant OTLP limits', () => {
  let t: TestReceiver;
  beforeAll(async () => {
    t = await startTestReceiver({
      internalToken: INTERNAL,
      env: { OTLP_TENANT_SPANS_PER_SECOND: '50', OTLP_TENANT_SPAN_BURST: '500', OTLP_TENANT_BYTES_PER_SECOND: '1000', OTLP_TENANT_BYTE_BURST: '400000', OTLP_MAX_BODY_BYTES: String(1024 * 1024) },
    });
  }, 60_000);
  afterAll(() => t?.close());

  it("one tenant's span flood gets 429 + Retry-After; another tenant's spans and Tollgate's own still land", async () => {
    const flood = await createTenantWithKey();
    const other = await createTenantWithKey();
    const traceId = randomBytes(16).toString('hex');
    const replies = [];
    for (let i = 0; i < 20; i++) replies.push(await post(t.url, flood.key.secret, body(null, 100, traceId)));
    const accepted = replies.filter((r) => r.status === 200).length;
    // Before the fix: 20 × 200 (2,000 spans). Burst 500 + 50/s refill.
    expect(accepted).toBeGreaterThanOrEqual(5);
    expect(accepted).toBeLessThan(10);
    expect(replies.filter((r) => r.status === 429).length).toBe(20 - accepted);
    expect(Number(replies.find((r) => r.status === 429)!.retryAfter)).toBeGreaterThan(0);

    expect((await post(t.url, other.key.secret, body(null, 100, traceId))).status).toBe(200);
    expect((await post(t.url, INTERNAL, body(flood.tenant.id, 300, traceId))).status).toBe(200);
    expect(await stored(t, other.tenant.id, traceId)).toBe(100);
    // The flooding tenant keeps what was accepted, plus Tollgate's own spans about it.
    expect(await stored(t, flood.tenant.id, traceId)).toBe(accepted * 100 + 300);
  });

  it('bytes are charged from the declared length before the body is read', async () => {
    const { key } = await createTenantWithKey();
    const first = await post(t.url, key.secret, body(null, 1, randomBytes(16).toString('hex')) + ' '.repeat(300_000));
    expect(first.status).toBe(200);
    // Declares 300 kB with 100 kB left in the bucket: answered without the body being sent.
    const reply = await new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
      const u = new URL(t.url);
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}`, 'content-length': '300000' } }, (res) => {
        res.resume();
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined });
          req.destroy();
        });
      });
      req.on('error', (err) => (/socket hang up|ECONNRESET|EPIPE/.test(err.message) ? undefined : reject(err)));
      req.write(Buffer.alloc(1000, 0x20));
    });
    expect(reply.status).toBe(429);
    expect(Number(reply.retryAfter)).toBeGreaterThan(0);
  });
});

describe("17.9: a tenant's share of the span buffer", () => {
  let t: TestReceiver;
  beforeAll(async () => {
    // Nothing is flushed during the test (one-minute interval), so the buffer only fills.
    t = await startTestReceiver({
      internalToken: INTERNAL,
      env: { OTLP_FLUSH_INTERVAL_MS: '60000', OTLP_MAX_BUFFERED_SPANS: '1000', OTLP_TENANT_BUFFER_SHARE: '0.25', OTLP_TENANTS_BUFFER_SHARE: '0.5', OTLP_TENANT_SPAN_BURST: '100000' },
    });
  }, 60_000);
  afterAll(() => t?.close());

  it('a tenant holds at most its share; tenants together leave room for Tollgate’s own spans', async () => {
    const [a, b, c] = await Promise.all([createTenantWithKey(), createTenantWithKey(), createTenantWithKey()]);
    const traceId = randomBytes(16).toString('hex');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(t.url, a.key.secret, body(null, 100, traceId))).status);
    // 250 spans per tenant: two requests of 100 fit, the third does not.
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect((await post(t.url, b.key.secret, body(null, 200, traceId))).status).toBe(200);
    // Tenants together: 500 (a 200 + b 200 + c 100 fits, c's next 100 does not).
    expect((await post(t.url, c.key.secret, body(null, 100, traceId))).status).toBe(200);
    expect((await post(t.url, c.key.secret, body(null, 100, traceId))).status).toBe(429);
    // Tollgate's own spans still have the rest of the buffer.
    expect((await post(t.url, INTERNAL, body(a.tenant.id, 400, traceId))).status).toBe(200);
    expect(await stored(t, a.tenant.id, traceId)).toBe(600);
    expect(await stored(t, b.tenant.id, traceId)).toBe(200);
  });
});
