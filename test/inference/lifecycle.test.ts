/** Graceful shutdown, execution-provider selection and hot reload of the model repository. */
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { get, infer, makeRepo, mlpRequest, modelsDir, prng, staticKeys, startServer } from './helpers.js';

const keys = staticKeys();
const alice = keys.add();
const repos: ReturnType<typeof makeRepo>[] = [];
afterAll(() => repos.forEach((r) => r.cleanup()));

function repoOf(...args: Parameters<typeof makeRepo>) {
  const r = makeRepo(...args);
  repos.push(r);
  return r;
}

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function until(cond: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('graceful shutdown', () => {
  it('finishes every accepted request, then stops accepting', async () => {
    // A long queue delay keeps the accepted requests waiting in the batcher when close() begins.
    const repo = repoOf([{ from: 'mlp-demo', config: { dynamic_batching: { max_queue_delay_microseconds: 400_000, preferred_batch_size: [64] } } }]);
    const srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate });
    const rand = prng(1);
    const pending = Array.from({ length: 24 }, (_, i) => infer(srv.base, 'mlp-demo', mlpRequest(rand, 1 + (i % 2), `g-${i}`), { key: alice.secret }));
    await until(() => srv.server.activeRequests() === 24);
    const closing = srv.close();
    expect(srv.server.ready()).toBe(false);
    const results = await Promise.all(pending);
    await closing;
    for (const [i, res] of results.entries()) {
      expect(res.status).toBe(200);
      expect(res.json.id).toBe(`g-${i}`);
      expect(res.json.outputs[0].data).toHaveLength((1 + (i % 2)) * 10);
    }
    expect(srv.sink.records.filter((r) => r.status === 'ok')).toHaveLength(24);
    await expect(fetch(`${srv.base}/v2/health/live`)).rejects.toThrow();
  });
});

describe('execution provider', () => {
  it('INFERENCE_DEVICE=cuda fails start-up with a clear message when CUDA cannot load', async () => {
    const repo = repoOf(['mlp-demo']);
    await expect(startServer({ repo: repo.dir, env: { INFERENCE_DEVICE: 'cuda' } })).rejects.toThrow(/INFERENCE_DEVICE=cuda but the CUDA execution provider cannot be loaded/);
  });

  it('INFERENCE_DEVICE=auto falls back to CPU with one log line, and usage records say cpu', async () => {
    const repo = repoOf(['mlp-demo']);
    const { logger, lines } = capture();
    const srv = await startServer({ repo: repo.dir, env: { INFERENCE_DEVICE: 'auto' }, authenticate: keys.authenticate, logger });
    try {
      expect(srv.server.device).toBe('cpu');
      const fallback = lines.filter((l) => /CUDA/.test(String(l.msg)));
      expect(fallback).toHaveLength(1);
      expect(fallback[0]).toMatchObject({ level: 40, device: 'cpu' });
      expect(String(fallback[0]!.msg)).toMatch(/falling back to CPU/);
      expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(2), 1, 'dev-1'), { key: alice.secret })).status).toBe(200);
      expect(srv.sink.records.find((r) => r.eventId === 'dev-1')?.device).toBe('cpu');
    } finally {
      await srv.close();
    }
  });
});

describe('hot reload', () => {
  it('serves a version added to the repository while running, and makes it the default', async () => {
    const repo = repoOf(['mlp-demo']);
    const srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate, env: { INFERENCE_REPOSITORY_POLL_MS: '100' } });
    try {
      expect((await get(srv.base, '/v2/models/mlp-demo/versions/2', alice.secret)).status).toBe(404);
      mkdirSync(path.join(repo.dir, 'mlp-demo', '2'));
      symlinkSync(path.join(modelsDir, 'mlp-demo', '1', 'model.onnx'), path.join(repo.dir, 'mlp-demo', '2', 'model.onnx'));
      await until(async () => (await get(srv.base, '/v2/models/mlp-demo/versions/2/ready', alice.secret)).status === 200);
      expect((await get(srv.base, '/v2/models/mlp-demo', alice.secret)).json.versions).toEqual(['1', '2']);
      const v2 = await infer(srv.base, 'mlp-demo', mlpRequest(prng(3), 1), { key: alice.secret, version: '2' });
      const latest = await infer(srv.base, 'mlp-demo', mlpRequest(prng(3), 1), { key: alice.secret });
      const v1 = await infer(srv.base, 'mlp-demo', mlpRequest(prng(3), 1), { key: alice.secret, version: '1' });
      expect([v2.status, latest.status, v1.status]).toEqual([200, 200, 200]);
      expect(latest.json.model_version).toBe('2');
      expect(v1.json.model_version).toBe('1');
      expect(v2.json.outputs[0].data).toEqual(v1.json.outputs[0].data);
    } finally {
      await srv.close();
    }
  });
});
