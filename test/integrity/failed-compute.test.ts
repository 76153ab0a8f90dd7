/**
 * Issue 17.3 as an attack against the real server (real HTTP, onnxruntime's ocr-rec, API keys,
 * admission on Redis, WAL sink into ClickHouse): a request whose JSON output is too large used to
 * hold a session for seconds, fail while formatting, and be recorded with compute_us = 0 and its
 * quota refunded. Now its compute is billed and counts against the compute quota, and the answer
 * says to use the binary extension.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFactories, createTenantWithKey } from '../factories.js';
import { binaryBody, infer } from '../inference/helpers.js';
import { override } from '../quotas/helpers.js';
import { num, startStack, type Stack } from './harness.js';

afterAll(() => closeFactories());

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ models: [{ from: 'ocr-rec', config: { instance_count: 1 } }] });
}, 120_000);
afterAll(() => stack?.close());

function ocrBody(items: number, width: number, binaryOutput: boolean) {
  const x = new Float32Array(items * 3 * 48 * width).map((_, i) => ((i * 7919) % 255) / 255 - 0.5);
  return binaryBody(
    { inputs: [{ name: 'x', datatype: 'FP32', shape: [items, 3, 48, width], parameters: { binary_data_size: x.byteLength } }], ...(binaryOutput ? { parameters: { binary_data_output: true } } : {}) },
    [new Uint8Array(x.buffer)],
  );
}

describe('17.3: compute of failed runs is billed and counts against the compute quota', () => {
  it('a JSON output over the limit: 400 naming the binary extension, the run billed, and the hard compute quota then refuses', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'compute_ms_cpu', limit: 1, hard: true });
    // 2 x 320 timesteps x 6625 classes = 4.24 M numbers as JSON.
    const big = ocrBody(2, 2560, false);
    const r = await infer(stack.srv.base, 'ocr-rec', big.body, { key: key.secret, headers: big.headers });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/too many to answer as JSON: request it with the binary extension/);
    const rows = await stack.rows(tenant.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'client_error', model: 'ocr-rec' });
    // Before the fix: compute_us = 0 and nothing charged.
    expect(num(rows[0]!.billed_compute_us)).toBeGreaterThan(1000);
    expect(num(rows[0]!.items)).toBe(2);

    // The failed run used the 1 ms compute quota: the next request is refused before it runs
    // (after one push of this process' use: compute quotas are known one sync interval late).
    await stack.admission.flush();
    const small = ocrBody(1, 320, true);
    const next = await infer(stack.srv.base, 'ocr-rec', small.body, { key: key.secret, headers: small.headers });
    expect(next.status).toBe(402);
    expect(next.json.error).toMatch(/compute_ms_cpu/);
  });

  it('the same request with the binary extension is served (the limit is on JSON text only)', async () => {
    const { key } = await createTenantWithKey({ plan: 'starter' });
    const big = ocrBody(2, 2560, true);
    const r = await infer(stack.srv.base, 'ocr-rec', big.body, { key: key.secret, headers: big.headers });
    expect(r.status).toBe(200);
    expect(r.json.outputs[0].shape).toEqual([2, 320, 6625]);
  });
});
