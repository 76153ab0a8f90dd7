/**
 * Issue 17.5 as an attack against the real server (real HTTP, onnxruntime, API keys, admission on
 * Redis, WAL sink into ClickHouse): identical retries used to run the model every time while
 * being billed once — also after the hard quota was spent. Now a retry within the window gets the
 * stored answer without a run; an answer too large to store is recomputed and that compute is
 * charged to the compute quota.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { closeFactories, createTenantWithKey } from '../factories.js';
import { get, infer, mlpRequest, prng } from '../inference/helpers.js';
import { override } from '../quotas/helpers.js';
import { startStack, type Stack } from './harness.js';

afterAll(() => closeFactories());

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ models: ['mlp-demo'], env: { INFERENCE_REPLAY_MAX_BYTES: '4096' }, replay: true });
}, 120_000);
afterAll(() => stack?.close());

/** Batches mlp-demo has run so far (the server's own counter). */
async function runs(): Promise<number> {
  const text = (await get(stack.srv.base, '/metrics')).raw.toString();
  const m = /tollgate_inference_exec_count_total\{model="mlp-demo",version="1"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('17.5: identical retries', () => {
  it('20 retries after the hard request quota is spent: the stored answer, byte for byte, and no run', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'requests', limit: 1 });
    const body = mlpRequest(prng(1), 1, `replay-${randomUUID()}`);
    const first = await infer(stack.srv.base, 'mlp-demo', body, { key: key.secret });
    expect(first.status).toBe(200);
    const before = await runs();
    for (let i = 0; i < 20; i++) {
      const r = await infer(stack.srv.base, 'mlp-demo', body, { key: key.secret });
      expect(r.status).toBe(200);
      expect(r.headers.get('tollgate-replayed')).toBe('true');
      expect(r.raw.equals(first.raw)).toBe(true);
    }
    // Before the fix: 20 more session runs, billed as one.
    expect(await runs()).toBe(before);
    const ok = (await stack.rows(tenant.id)).filter((r) => r.status === 'ok');
    expect(ok).toHaveLength(1);
    // The quota is spent: a new request is refused.
    expect((await infer(stack.srv.base, 'mlp-demo', mlpRequest(prng(2), 1, `new-${randomUUID()}`), { key: key.secret })).status).toBe(402);
  });

  it('an answer too large to store: each retry runs again and its compute is charged until the compute quota refuses', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    await override({ tenantId: tenant.id, meter: 'compute_ms_cpu', limit: 50, hard: true });
    const body = mlpRequest(prng(3), 64, `big-${randomUUID()}`); // 64 x 10 numbers as JSON: over 4096 bytes
    const first = await infer(stack.srv.base, 'mlp-demo', body, { key: key.secret });
    expect(first.status).toBe(200);
    expect(first.raw.length).toBeGreaterThan(4096);
    const statuses: number[] = [];
    for (let i = 0; i < 600 && !statuses.includes(402); i++) {
      const r = await infer(stack.srv.base, 'mlp-demo', body, { key: key.secret });
      // The plan's request rate (starter: 20/s, burst 40) can refuse a fast loop first: wait, not a charge.
      if (r.status === 429) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      statuses.push(r.status);
      if (r.status === 200) expect(r.headers.get('tollgate-replayed')).toBeNull();
      if (i % 5 === 4) await stack.admission.flush();
    }
    // Before the fix retries were never charged: all 600 would be served. Now they use the 50 ms
    // of compute (the first run alone did not) and the quota refuses.
    expect(statuses.at(-1)).toBe(402);
    expect(statuses.length).toBeGreaterThan(2);
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
  });
});
