/** The session worker pool survives a dead worker: in-flight calls fail, the worker comes back with its models. */
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { WorkerCallError, WorkerPool } from '../../inference/src/runtime/pool.js';
import { modelsDir } from './helpers.js';

const pool = new WorkerPool({ size: 1, intraOpThreads: 1, logger: pino({ level: 'silent' }) });
afterAll(() => pool.terminate());

const feeds = () => ({ input: { type: 'float32' as const, dims: [2, 64], data: new Float32Array(128).fill(0.5).buffer } });

describe('worker pool', () => {
  it('respawns a worker that died, failing only the calls it had in flight', async () => {
    const w = pool.workers[0]!;
    await w.load('mlp', path.join(modelsDir, 'mlp-demo/1/model.onnx'), 'cpu');
    const before = await w.run('mlp', feeds(), ['output']);
    expect(before.outputs.output!.dims).toEqual([2, 10]);

    const dying = w.worker;
    const inflight = w.run('mlp', feeds(), ['output']);
    await dying.terminate(); // as if the thread crashed
    const err = await inflight.then(
      () => undefined,
      (e: unknown) => e,
    );
    // The call either finished before the thread died or failed as a crash, never hangs.
    if (err !== undefined) expect(err).toBeInstanceOf(WorkerCallError);
    expect(w.worker).not.toBe(dying);

    // The replacement reloads the model; calls succeed again with the same numbers.
    let after: Awaited<ReturnType<typeof w.run>> | undefined;
    for (let i = 0; i < 100 && !after; i++) {
      after = await w.run('mlp', feeds(), ['output']).catch(() => undefined);
      if (!after) await new Promise((r) => setTimeout(r, 50));
    }
    expect(after).toBeDefined();
    expect(new Float32Array(after!.outputs.output!.data as ArrayBuffer)).toEqual(new Float32Array(before.outputs.output!.data as ArrayBuffer));
  });
});
