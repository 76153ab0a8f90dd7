/** Dynamic batching: batched results equal unbatched ones, shape-compatible grouping, bounded queues, timeouts. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenantQueue, TenantQueueFactory } from '../../src/quotas/index.js';
import { FifoQueue } from '../../inference/src/index.js';
import { infer, makeRepo, mlpRequest, prng, staticKeys, startServer, type Running } from './helpers.js';

const keys = staticKeys();
const alice = keys.add();
const pushes: { tenantId: string; weight: number; cost: number }[] = [];
const recordingFactory: TenantQueueFactory = <T>(opts: { capacity: number }) => {
  const q = new FifoQueue<T>(opts.capacity);
  const push = q.push.bind(q);
  const queue: TenantQueue<T> = q;
  queue.push = (item: T, owner: { tenantId: string; weight: number; cost: number }) => {
    pushes.push(owner);
    return push(item);
  };
  return queue;
};

const repo = makeRepo([
  'mlp-demo',
  // Long queue delay: everything sent together lands in one batch.
  { from: 'mlp-demo', as: 'mlp-batch', config: { instance_count: 1, dynamic_batching: { max_queue_delay_microseconds: 300_000, preferred_batch_size: [64] } } },
  // Never fills: holds requests for 5 s, with room for two.
  { from: 'mlp-demo', as: 'mlp-tight', config: { instance_count: 1, dynamic_batching: { max_queue_delay_microseconds: 5_000_000, max_queue_size: 2 } } },
  { from: 'ocr-cls', config: { instance_count: 1, dynamic_batching: { max_queue_delay_microseconds: 300_000, preferred_batch_size: [32] } } },
]);
let srv: Running;

beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate, queueFactory: recordingFactory });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

function close(a: number[], b: number[]): void {
  expect(a).toHaveLength(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
}

describe('dynamic batcher', () => {
  it('returns the same numbers batched under concurrency as unbatched', async () => {
    const rand = prng(11);
    const requests = Array.from({ length: 40 }, (_, i) => mlpRequest(rand, 1 + (i % 4), `b-${i}`));
    // Unbatched: one at a time on the plain copy (each batch holds only its own request).
    const alone: number[][] = [];
    for (const r of requests) {
      const res = await infer(srv.base, 'mlp-demo', r, { key: alice.secret });
      expect(res.status).toBe(200);
      alone.push(res.json.outputs[0].data);
    }
    const single = srv.sink.records.filter((r) => r.model === 'mlp-demo');
    expect(single.every((r) => r.batchSize === r.items)).toBe(true);

    const together = await Promise.all(requests.map((r) => infer(srv.base, 'mlp-batch', r, { key: alice.secret })));
    together.forEach((res, i) => {
      expect(res.status).toBe(200);
      expect(res.json.id).toBe(`b-${i}`);
      expect(res.json.outputs[0].shape).toEqual([1 + (i % 4), 10]);
      close(res.json.outputs[0].data, alone[i]!);
    });
    const batched = srv.sink.records.filter((r) => r.model === 'mlp-batch');
    expect(batched).toHaveLength(40);
    expect(Math.max(...batched.map((r) => r.batchSize))).toBeGreaterThan(4);
    for (const r of batched) {
      expect(r.batchSize).toBeLessThanOrEqual(64);
      expect(r.billedComputeUs).toBeLessThanOrEqual(r.computeUs);
    }
    // The batcher's queue got each request with its tenant, weight and item count.
    expect(pushes).toContainEqual({ tenantId: alice.principal.tenantId, weight: 1, cost: 4 });
  });

  it('batches only requests whose non-batch dimensions agree', async () => {
    const req = (w: number, n: number, id: string) => ({ id, inputs: [{ name: 'x', datatype: 'FP32', shape: [n, 3, 48, w], data: new Array(n * 3 * 48 * w).fill(0.25) }] });
    const res = await Promise.all([req(192, 1, 'w192a'), req(96, 1, 'w96'), req(192, 2, 'w192b')].map((r) => infer(srv.base, 'ocr-cls', r, { key: alice.secret })));
    expect(res.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(res.map((r) => r.json.outputs[0].shape)).toEqual([
      [1, 2],
      [1, 2],
      [2, 2],
    ]);
    const recs = new Map(srv.sink.records.filter((r) => r.model === 'ocr-cls').map((r) => [r.eventId, r]));
    expect(recs.get('w96')!.batchSize).toBe(1);
    expect(recs.get('w192a')!.batchSize).toBe(3);
    expect(recs.get('w192b')!.batchSize).toBe(3);
    // Same input row, same answer, whatever batch it ran in.
    expect(res[0]!.json.outputs[0].data).toEqual(res[2]!.json.outputs[0].data.slice(0, 2));
  });
});

describe('bounded queue and timeouts', () => {
  it('answers 503 at once when the queue is full, and 504 when a request outlives its timeout', async () => {
    const body = (i: number) => ({ ...mlpRequest(prng(20 + i), 1, `t-${i}`), parameters: { timeout_ms: 400 } });
    const res = await Promise.all([0, 1, 2].map((i) => infer(srv.base, 'mlp-tight', body(i), { key: alice.secret })));
    const statuses = res.map((r) => r.status).sort();
    expect(statuses).toEqual([503, 504, 504]);
    for (const r of res) expect(r.json).toEqual({ error: expect.any(String) });
    const recs = srv.sink.records.filter((r) => r.model === 'mlp-tight');
    expect(recs.map((r) => r.status).sort()).toEqual(['rejected', 'timeout', 'timeout']);
    // The server is still serving.
    expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(30), 1), { key: alice.secret })).status).toBe(200);
  });

  it('rejects a bad timeout parameter', async () => {
    const res = await infer(srv.base, 'mlp-demo', { ...mlpRequest(prng(31), 1), parameters: { timeout_ms: 'soon' } }, { key: alice.secret });
    expect(res.status).toBe(400);
  });
});
