/**
 * A request that times out while its batch runs on a worker: answered 504 at once, but it keeps
 * its admission slot until the batch ends, and its usage record carries its compute. Client
 * timeouts are clamped to [100 ms, INFERENCE_REQUEST_TIMEOUT_MS].
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Admission } from '../../src/quotas/index.js';
import { binaryBody, infer, makeRepo, staticKeys, startServer, type Running } from './helpers.js';

const keys = staticKeys();
const alice = keys.add();
// One instance: an ocr-rec line 4000 pixels wide takes several hundred ms of session.run.
const repo = makeRepo([{ from: 'ocr-rec', config: { instance_count: 1 } }]);

let open = 0;
const releases: { computeUs: number; items: number; ok: boolean; device?: string }[] = [];
const admission: Admission = {
  async admit() {
    open++;
    let released = false;
    return {
      allowed: true,
      headers: {},
      priority: 0,
      weight: 1,
      ticket: {
        release(o) {
          if (released) return;
          released = true;
          open--;
          releases.push(o);
        },
      },
    };
  },
};

let srv: Running;
beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate, admission, env: { INFERENCE_REQUEST_TIMEOUT_MS: '150' } });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

function wideLine(id: string, timeoutMs: number) {
  const width = 4000;
  const x = new Uint8Array(new Float32Array(3 * 48 * width).fill(0.3).buffer);
  return binaryBody({ id, inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, width], parameters: { binary_data_size: x.byteLength } }], parameters: { timeout_ms: timeoutMs, binary_data_output: true } }, [x]);
}

describe('timeouts of running requests', () => {
  it('answers 504 at once but holds the concurrency slot and bills the compute until the batch ends', async () => {
    const { body, headers } = wideLine('slow-1', 1);
    const res = await infer(srv.base, 'ocr-rec', body, { key: alice.secret, headers });
    expect(res.status).toBe(504);
    // timeout_ms 1 is raised to the 100 ms floor.
    expect(res.json).toEqual({ error: 'inference did not complete within 100 ms' });
    // The batch still runs on the worker: the slot is held and nothing is recorded yet.
    expect(open).toBe(1);
    expect(srv.sink.records.filter((r) => r.requestId === 'slow-1')).toHaveLength(0);

    await vi.waitFor(() => expect(open).toBe(0), { timeout: 20_000, interval: 20 });
    expect(releases.at(-1)).toMatchObject({ ok: false, items: 1, device: 'cpu' });
    expect(releases.at(-1)!.computeUs).toBeGreaterThan(0);
    const rec = srv.sink.records.find((r) => r.requestId === 'slow-1')!;
    expect(rec).toMatchObject({ status: 'timeout', httpStatus: 504, items: 1, batchSize: 1, device: 'cpu' });
    expect(rec.computeUs).toBeGreaterThan(0);
    expect(rec.billedComputeUs).toBe(rec.computeUs);
    expect(releases.at(-1)!.computeUs).toBe(rec.billedComputeUs);
  });

  it('caps a client timeout at INFERENCE_REQUEST_TIMEOUT_MS', async () => {
    const { body, headers } = wideLine('slow-2', 1e9);
    const res = await infer(srv.base, 'ocr-rec', body, { key: alice.secret, headers });
    expect(res.status).toBe(504);
    expect(res.json).toEqual({ error: 'inference did not complete within 150 ms' });
    await vi.waitFor(() => expect(open).toBe(0), { timeout: 20_000, interval: 20 });
    expect(srv.sink.records.find((r) => r.requestId === 'slow-2')).toMatchObject({ status: 'timeout', batchSize: 1 });
  });
});
