/**
 * Request ids and billing: only a success owns the idempotency key (failure records get a
 * distinct event id), the id is bound to the request's content by a fingerprint passed to
 * admission, and a 409 CONFLICT denial is answered as {"error"} with status 409.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admission, AdmissionRequest } from '../../src/quotas/index.js';
import { MemoryUsageSink } from '../../src/usage/index.js';
import { binaryBody, infer, makeRepo, mlpRequest, prng, staticKeys, startServer, type Running } from './helpers.js';

const keys = staticKeys();
const alice = keys.add();
const repo = makeRepo(['mlp-demo']);

/** Stub admission: remembers the first fingerprint per (tenant, event id) like quotas will, 409 on a different one. */
const calls: AdmissionRequest[] = [];
const marks = new Map<string, string | undefined>();
let denyNext: 429 | undefined;
const admission: Admission = {
  async admit(req) {
    calls.push(req);
    if (denyNext) {
      denyNext = undefined;
      return { allowed: false, status: 429, code: 'RATE_LIMITED', message: 'rate limit exceeded', headers: {} };
    }
    const key = `${req.tenantId}/${req.eventId}`;
    if (marks.has(key) && marks.get(key) !== req.fingerprint) {
      return { allowed: false, status: 409, code: 'CONFLICT', message: `request id "${req.eventId}" was already used for a different request`, headers: {} };
    }
    marks.set(key, req.fingerprint);
    return { allowed: true, headers: {}, priority: 0, weight: 1, ticket: { release() {} } };
  },
};

let srv: Running;
const sink = new MemoryUsageSink();
beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate, admission, usageSink: sink });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

describe('usage event ids', () => {
  it('gives a failed request a distinct event id, so the successful retry with the same id keeps it', async () => {
    const bad = await infer(srv.base, 'mlp-demo', { id: 'retry-1', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }, { key: alice.secret });
    expect(bad.status).toBe(400);
    const ok = await infer(srv.base, 'mlp-demo', mlpRequest(prng(1), 1, 'retry-1'), { key: alice.secret });
    expect(ok.status).toBe(200);
    const recs = sink.records.filter((r) => r.requestId === 'retry-1');
    expect(recs.map((r) => r.status)).toEqual(['client_error', 'ok']);
    expect(recs[0]!.eventId).toMatch(/^retry-1#[0-9a-f-]{36}$/);
    expect(recs[1]!.eventId).toBe('retry-1');
    expect(new Set(recs.map((r) => r.eventId)).size).toBe(2);
  });

  it('does the same for an admission denial followed by a success', async () => {
    denyNext = 429;
    const denied = await infer(srv.base, 'mlp-demo', mlpRequest(prng(2), 1, 'retry-2'), { key: alice.secret });
    expect(denied.status).toBe(429);
    const ok = await infer(srv.base, 'mlp-demo', mlpRequest(prng(2), 1, 'retry-2'), { key: alice.secret });
    expect(ok.status).toBe(200);
    // The denial is counted (issue 17.7), not recorded: the id's only record is the success's.
    const recs = sink.records.filter((r) => r.requestId === 'retry-2');
    expect(recs.map((r) => [r.status, r.eventId === 'retry-2'])).toEqual([['ok', true]]);
    expect(sink.rejections.at(-1)).toMatchObject({ httpStatus: 429, reason: 'rate_limited' });
  });

  it('uses a fresh UUID as event id when the client sends no id, even with an x-request-id header', async () => {
    const a = await infer(srv.base, 'mlp-demo', mlpRequest(prng(3), 1), { key: alice.secret, headers: { 'x-request-id': 'corr-1' } });
    const b = await infer(srv.base, 'mlp-demo', mlpRequest(prng(4), 1), { key: alice.secret, headers: { 'x-request-id': 'corr-1' } });
    expect([a.status, b.status]).toEqual([200, 200]);
    const recs = sink.records.filter((r) => r.requestId === 'corr-1');
    expect(recs).toHaveLength(2);
    for (const r of recs) expect(r.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(recs[0]!.eventId).not.toBe(recs[1]!.eventId);
  });
});

describe('request fingerprints', () => {
  it('passes the same fingerprint for a retry and serves it; a different body under the same id is a 409', async () => {
    const body = mlpRequest(prng(5), 2, 'fp-1');
    const first = await infer(srv.base, 'mlp-demo', body, { key: alice.secret });
    const retry = await infer(srv.base, 'mlp-demo', body, { key: alice.secret });
    expect([first.status, retry.status]).toEqual([200, 200]);
    const fps = calls.filter((c) => c.eventId === 'fp-1').map((c) => c.fingerprint);
    expect(fps).toHaveLength(2);
    expect(fps[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(fps[1]).toBe(fps[0]);

    const other = await infer(srv.base, 'mlp-demo', mlpRequest(prng(6), 2, 'fp-1'), { key: alice.secret });
    expect(other.status).toBe(409);
    expect(other.json).toEqual({ error: 'request id "fp-1" was already used for a different request' });
    // The 409 is counted as a refusal (issue 17.7); the id's records stay the served ones.
    expect(sink.records.filter((r) => r.requestId === 'fp-1').map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(sink.rejections.at(-1)).toMatchObject({ httpStatus: 409, reason: 'conflict' });
  });

  it('fingerprints binary tensors too, and sends none without a client id', async () => {
    const tensor = (v: number) => new Uint8Array(new Float32Array(64).fill(v).buffer);
    const header = { id: 'fp-bin', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], parameters: { binary_data_size: 256 } }] };
    const a = binaryBody(header, [tensor(0.5)]);
    const b = binaryBody(header, [tensor(0.25)]);
    expect((await infer(srv.base, 'mlp-demo', a.body, { key: alice.secret, headers: a.headers })).status).toBe(200);
    const res = await infer(srv.base, 'mlp-demo', b.body, { key: alice.secret, headers: b.headers });
    expect(res.status).toBe(409);

    const n = calls.length;
    expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(7), 1), { key: alice.secret })).status).toBe(200);
    expect(calls.length).toBe(n + 1);
    expect(calls.at(-1)!.fingerprint).toBeUndefined();
  });
});
