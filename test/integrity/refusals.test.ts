/**
 * Issue 17, items 6 and 7, as attacks against the real server (real HTTP, onnxruntime, API keys,
 * admission on Redis, WAL sink into ClickHouse):
 * - 17.7: a flood of requests to made-up model names is rate limited like any request, writes no
 *   usage row and no idempotency key per request, and shows up as summed rejection counts.
 * - 17.6: admission (rate, in-flight bytes) answers before the body is read; JSON bodies have their
 *   own lower limit, refused from the declared length.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { sql } from '../../src/clickhouse/index.js';
import { closeFactories, createTenantWithKey } from '../factories.js';
import { infer, mlpRequest, prng } from '../inference/helpers.js';
import { override } from '../quotas/helpers.js';
import { num, startStack, type Stack } from './harness.js';

afterAll(() => closeFactories());

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ models: ['mlp-demo'], env: { INFERENCE_TENANT_INFLIGHT_BYTES: String(2 * 1024 * 1024) } });
}, 120_000);
afterAll(() => stack?.close());

async function idemKeys(tenantId: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await stack.redis.scan(cursor, 'MATCH', `${stack.config.REDIS_PREFIX}:idem:${tenantId}:*`, 'COUNT', 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

/**
 * Sends the headers and only `sendFirst` bytes of a body declared as `length` bytes, and resolves
 * with the answer if it arrives while the rest of the body has not been sent.
 */
function partialUpload(path: string, headers: Record<string, string>, length: number, sendFirst: number): Promise<{ res: IncomingMessage; body: string; finish(): void }> {
  const url = new URL(stack.srv.base + path);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: 'POST', headers: { ...headers, 'content-length': String(length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks).toString(), finish: () => req.destroy() }));
    });
    req.on('error', (err) => (String(err.message).match(/socket hang up|ECONNRESET|EPIPE/) ? undefined : reject(err)));
    req.write(Buffer.alloc(sendFirst, 0x20));
  });
}

describe('17.7: failures before admission are throttled and summed, not metered one by one', () => {
  it('60 requests to made-up model names: 429 once past the burst, no usage row, no Redis key, one summed count per status', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'rate', limit: 1 });
    await override({ tenantId: tenant.id, meter: 'burst', limit: 10 });
    const started = Date.now();
    const replies = [];
    for (let i = 0; i < 60; i++) replies.push(await infer(stack.srv.base, `no-such-model-${randomUUID()}`, mlpRequest(prng(i), 1, `flood-${i}`), { key: key.secret }));
    const refill = Math.ceil((Date.now() - started) / 1000);
    const statuses = replies.map((r) => r.status);
    const notFound = statuses.filter((s) => s === 404).length;
    // Before the fix all 60 were 404s (no rate limit before the model was resolved).
    expect(notFound).toBeGreaterThanOrEqual(10);
    expect(notFound).toBeLessThanOrEqual(10 + refill);
    expect(statuses.filter((s) => s === 429).length).toBe(60 - notFound);
    expect(replies.find((r) => r.status === 429)!.headers.get('retry-after')).toBeTruthy();

    // Nothing per request in ClickHouse's raw table or Redis; the counts are there, summed.
    expect(await stack.rows(tenant.id)).toEqual([]);
    expect(await idemKeys(tenant.id)).toBe(0);
    await stack.sink.flushNow();
    const counts = await stack.clickhouse.query<{ http_status: number; reason: string; n: string }>(
      sql`SELECT toUInt16(http_status) AS http_status, reason, sum(rejections) AS n FROM usage_rejections_minute_v1 WHERE tenant_id = ${tenant.id} GROUP BY http_status, reason ORDER BY http_status`,
    );
    expect(counts.map((c) => [num(c.http_status), c.reason, num(c.n)])).toEqual([
      [404, 'not_found', notFound],
      [429, 'rate_limited', 60 - notFound],
    ]);
    // One row per (tenant, minute, status, reason), not per request.
    const raw = await stack.clickhouse.query<{ n: string }>(sql`SELECT count() AS n FROM usage_rejections_minute_v1 WHERE tenant_id = ${tenant.id}`);
    expect(num(raw[0]!.n)).toBeLessThanOrEqual(6);
  });

  it('a served request still gets its usage row; its failure after the model resolved (400) too', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    expect((await infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(1), 2, `ok-${randomUUID()}`), { key: key.secret })).status).toBe(200);
    expect((await infer(stack.srv.base, 'mlp-demo', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }, { key: key.secret })).status).toBe(400);
    const rows = await stack.rows(tenant.id);
    expect(rows.map((r) => [r.model, r.status])).toEqual([
      ['mlp-demo', 'ok'],
      ['mlp-demo', 'client_error'],
    ]);
    // The failure's record has a unique event id: it takes no Redis idempotency key (only the success's id has one).
    expect(await idemKeys(tenant.id)).toBe(1);
  });
});

describe('17.6: admission before the body is read', () => {
  it('a rate-limited tenant’s 30 MB upload is refused with 429 before its body is sent', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'rate', limit: 1 });
    await override({ tenantId: tenant.id, meter: 'burst', limit: 1 });
    expect((await infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(2), 1), { key: key.secret })).status).toBe(200);
    const t0 = Date.now();
    const r = await partialUpload('/v2/models/mlp-demo/infer', { authorization: `Bearer ${key.secret}`, 'content-type': 'application/octet-stream', 'inference-header-content-length': '100' }, 30_000_000, 1024);
    r.finish();
    expect(r.res.statusCode).toBe(429);
    expect(JSON.parse(r.body).error).toMatch(/request rate limit exceeded/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('JSON bodies: a declared length over INFERENCE_MAX_JSON_BODY_BYTES is 413 before the body is read; the binary extension keeps the larger limit', async () => {
    const { key } = await createTenantWithKey({ plan: 'starter' });
    const r = await partialUpload('/v2/models/mlp-demo/infer', { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' }, stack.config.INFERENCE_MAX_JSON_BODY_BYTES + 1, 1024);
    r.finish();
    expect(r.res.statusCode).toBe(413);
    expect(JSON.parse(r.body).error).toMatch(/for JSON; larger tensors go in the binary extension/);
    expect(stack.config.INFERENCE_MAX_JSON_BODY_BYTES).toBeGreaterThanOrEqual(1024 * 1024);
  });

  it('in-flight bytes per tenant: while one upload holds the cap, the same tenant gets 429 at once and another tenant is served', async () => {
    const a = await createTenantWithKey({ plan: 'starter' });
    const b = await createTenantWithKey({ plan: 'starter' });
    const url = new URL(stack.srv.base);
    // 1.5 MiB declared, a few bytes sent: the upload stays open, holding its reservation.
    const holder = httpRequest({ host: url.hostname, port: url.port, path: '/v2/models/mlp-demo/infer', method: 'POST', headers: { authorization: `Bearer ${a.key.secret}`, 'content-type': 'application/octet-stream', 'inference-header-content-length': '10', 'content-length': String(1.5 * 1024 * 1024) } });
    holder.on('error', () => {});
    holder.write(Buffer.alloc(100));
    await new Promise((r) => setTimeout(r, 300));
    const body = JSON.stringify(mlpRequest(prng(5), 4));
    const t0 = Date.now();
    const second = await infer(stack.srv.base, 'mlp-demo', Buffer.concat([Buffer.from(body), Buffer.alloc(1024 * 1024 - body.length, 0x20)]), { key: a.key.secret });
    expect(second.status).toBe(429);
    expect(second.json.error).toMatch(/request bytes in flight \(limit 2097152\)/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(6), 1), { key: b.key.secret })).status).toBe(200);
    holder.destroy();
    await new Promise((r) => setTimeout(r, 300));
    // The reservation went with the aborted upload.
    expect((await infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(7), 1), { key: a.key.secret })).status).toBe(200);
  });
});
