/**
 * Issue 17, items 2 (Redis outage), 4 (items of unbatched models) and 12 (span side channel),
 * each performed as an attack against the real server: real HTTP, real onnxruntime models, real
 * API keys, admission on Redis, the WAL sink flushing into ClickHouse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createRedis } from '../../src/shared/index.js';
import { closeFactories, createTenantWithKey } from '../factories.js';
import { infer, mlpRequest, prng } from '../inference/helpers.js';
import { override } from '../quotas/helpers.js';
import { num, startStack, type Stack } from './harness.js';

afterAll(() => closeFactories());

/** A silero-vad request carrying `streams` independent audio streams (input dim 0, state dim 1). */
function vadRequest(streams: number, id?: string): Record<string, unknown> {
  return {
    ...(id ? { id } : {}),
    inputs: [
      { name: 'input', datatype: 'FP32', shape: [streams, 512], data: new Array(streams * 512).fill(0.01) },
      { name: 'state', datatype: 'FP32', shape: [2, streams, 128], data: new Array(2 * streams * 128).fill(0) },
      { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
    ],
  };
}

describe('17.4: an unbatched model counts items on its declared batch axes', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ models: ['silero-vad'] });
  }, 120_000);
  afterAll(() => stack?.close());

  it('a 64-stream silero-vad request is served, billed 64 items and charged 64 against the items quota', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'items', limit: 100 });
    const first = await infer(stack.srv.base, 'silero-vad', vadRequest(64), { key: key.secret });
    expect(first.status).toBe(200);
    expect(first.json.outputs.find((o: { name: string }) => o.name === 'output').shape).toEqual([64, 1]);
    // Before the fix this was billed 1 item, so a second 64-stream request still fit a 100-item quota.
    const second = await infer(stack.srv.base, 'silero-vad', vadRequest(64), { key: key.secret });
    expect(second.status).toBe(402);
    const small = await infer(stack.srv.base, 'silero-vad', vadRequest(30), { key: key.secret });
    expect(small.status).toBe(200);
    const rows = (await stack.rows(tenant.id)).filter((r) => r.status === 'ok');
    expect(rows.map((r) => num(r.items))).toEqual([64, 30]);
  });

  it('inputs disagreeing on their batch axes are a 400 naming both', async () => {
    const { key } = await createTenantWithKey({ plan: 'starter' });
    const body = vadRequest(4);
    (body.inputs as Array<Record<string, unknown>>)[1] = { name: 'state', datatype: 'FP32', shape: [2, 3, 128], data: new Array(2 * 3 * 128).fill(0) };
    const r = await infer(stack.srv.base, 'silero-vad', body, { key: key.secret });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/"state": its batch axis 1 is 3 but input "input" carries 4 items/);
  });
});

describe('17.2: while admission cannot reach Redis, a client-chosen id is refused instead of served unbilled', () => {
  let stack: Stack;
  const dead = createRedis({ REDIS_URL: 'redis://127.0.0.1:1/0' }, { maxRetriesPerRequest: 1 });
  dead.on('error', () => {});
  beforeAll(async () => {
    stack = await startStack({ models: ['mlp-demo'], env: { QUOTA_REDIS_FAILURE_MODE: 'open' }, admissionRedis: dead });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
    dead.disconnect();
  });

  it('two different requests reusing one id: both 503 (none served), a request without an id is served and billed', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const id = `reuse-${randomUUID()}`;
    const a = await infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(1), 1, id), { key: key.secret });
    const b = await infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(2), 1, id), { key: key.secret });
    // Before the fix, fail-open admitted both as new and metering billed one of them.
    expect([a.status, b.status]).toEqual([503, 503]);
    expect(a.json.error).toMatch(/request ids cannot be checked right now/);
    expect(a.json.outputs).toBeUndefined();
    const plain = await infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(3), 1), { key: key.secret });
    expect(plain.status).toBe(200);
    const ok = (await stack.rows(tenant.id)).filter((r) => r.status === 'ok');
    expect(ok).toHaveLength(1);
    expect(ok[0]!.request_id).not.toBe(id);
  });
});

describe('17.12: a tenant-visible span carries the request own figures, not the shared batch', () => {
  let stack: Stack;
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeAll(async () => {
    stack = await startStack({
      models: [{ from: 'mlp-demo', config: { instance_count: 1, dynamic_batching: { max_queue_delay_microseconds: 400_000, preferred_batch_size: [64] } } }],
      tracer: provider.getTracer('test'),
    });
  }, 120_000);
  afterAll(() => stack?.close());

  it("tenant A's 1-item request batched with B's 2 items: A's span says 1 item and A's compute share, nothing of B", async () => {
    const a = await createTenantWithKey({ plan: 'starter' });
    const b = await createTenantWithKey({ plan: 'starter' });
    const idA = `a-${randomUUID()}`;
    const [ra, rb] = await Promise.all([
      infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(10), 1, idA), { key: a.key.secret }),
      infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(11), 2), { key: b.key.secret }),
    ]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    const [rowA] = await stack.rows(a.tenant.id);
    expect(num(rowA!.batch_size)).toBe(3); // they really shared a batch
    const span = exporter.getFinishedSpans().find((s) => s.attributes['tenant.id'] === a.tenant.id && s.attributes['tollgate.request_id'] === idA);
    expect(span).toBeDefined();
    const attrs = span!.attributes;
    expect(attrs['batch.size']).toBeUndefined();
    expect(attrs['tollgate.items']).toBe(1);
    expect(attrs['tollgate.compute_us']).toBe(num(rowA!.billed_compute_us));
    expect(num(rowA!.billed_compute_us)).toBeLessThan(num(rowA!.compute_us));
    expect(JSON.stringify(attrs)).not.toContain(b.tenant.id);
  });
});
