/** Open Inference Protocol v2 endpoints, JSON and binary encodings, datatypes, usage records, metrics, admission. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admission, AdmissionRequest } from '../../src/quotas/index.js';
import { MemoryUsageSink } from '../../src/usage/index.js';
import { binaryBody, binaryOutputs, get, infer, makeRepo, mlpRequest, prng, staticKeys, startServer, writeIdentityModel, type Running } from './helpers.js';

const keys = staticKeys();
const alice = keys.add();
const repo = makeRepo(['mlp-demo']);
writeIdentityModel(repo.dir, 'types');
let srv: Running;

beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

describe('health and metadata', () => {
  it('answers live, ready and server metadata without a key', async () => {
    const live = await get(srv.base, '/v2/health/live');
    expect([live.status, live.json]).toEqual([200, { live: true }]);
    const ready = await get(srv.base, '/v2/health/ready');
    expect([ready.status, ready.json]).toEqual([200, { ready: true }]);
    const meta = await get(srv.base, '/v2');
    expect(meta.status).toBe(200);
    expect(meta.json).toEqual({ name: 'tollgate', version: expect.any(String), extensions: expect.arrayContaining(['binary_tensor_data']) });
  });

  it('describes a model with -1 for the batch dimension, also per version', async () => {
    const m = await get(srv.base, '/v2/models/mlp-demo', alice.secret);
    expect(m.status).toBe(200);
    expect(m.json).toEqual({
      name: 'mlp-demo',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 64] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 10] }],
    });
    const v = await get(srv.base, '/v2/models/mlp-demo/versions/1', alice.secret);
    expect(v.status).toBe(200);
    expect(v.json.versions).toEqual(['1']);
  });

  it('reports model readiness as {name, ready} with 200, and 404 for unknown models or versions', async () => {
    const ready = await get(srv.base, '/v2/models/mlp-demo/ready', alice.secret);
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ name: 'mlp-demo', ready: true });
    const v1 = await get(srv.base, '/v2/models/mlp-demo/versions/1/ready', alice.secret);
    expect([v1.status, v1.json]).toEqual([200, { name: 'mlp-demo', ready: true }]);
    const missing = await get(srv.base, '/v2/models/nope/ready', alice.secret);
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: expect.any(String) });
    expect((await get(srv.base, '/v2/models/mlp-demo/versions/2', alice.secret)).status).toBe(404);
  });

  it('requires a key on model routes', async () => {
    expect((await get(srv.base, '/v2/models/mlp-demo')).status).toBe(401);
    expect((await get(srv.base, '/v2/models/mlp-demo/ready', 'wrong')).status).toBe(401);
  });
});

describe('inference over JSON', () => {
  it('echoes the request id, accepts flat and nested data alike, and returns declared shapes', async () => {
    const rand = prng(1);
    const req = mlpRequest(rand, 2, 'req-flat');
    const flat = (req.inputs as { data: number[] }[])[0]!.data;
    const nested = { id: 'req-nested', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 64], data: [flat.slice(0, 64), flat.slice(64)] }] };
    const a = await infer(srv.base, 'mlp-demo', req, { key: alice.secret });
    const b = await infer(srv.base, 'mlp-demo', nested, { key: alice.secret });
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ model_name: 'mlp-demo', model_version: '1', id: 'req-flat' });
    expect(a.json.outputs).toEqual([{ name: 'output', datatype: 'FP32', shape: [2, 10], data: expect.any(Array) }]);
    expect(a.json.outputs[0].data).toHaveLength(20);
    expect(a.json.outputs[0].data.every(Number.isFinite)).toBe(true);
    expect(b.json.id).toBe('req-nested');
    expect(b.headers.get('x-request-id')).toBe('req-nested');
    const odd = await infer(srv.base, 'mlp-demo', { ...req, id: 'line\nbreak é' }, { key: alice.secret });
    expect(odd.status).toBe(200);
    expect(odd.json.id).toBe('line\nbreak é');
    expect(odd.headers.get('x-request-id')).toBeNull();
    expect(b.json.outputs[0].data).toEqual(a.json.outputs[0].data);
  });

  it('generates an id when none is sent, passes parameters through and serves an explicit version', async () => {
    const res = await infer(srv.base, 'mlp-demo', { ...mlpRequest(prng(2), 1), parameters: { 'tag.team': 'search', note: 'x' } }, { key: alice.secret, version: '1' });
    expect(res.status).toBe(200);
    expect(res.json.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json.parameters).toEqual({ 'tag.team': 'search', note: 'x' });
    const rec = srv.sink.records.find((r) => r.requestId === res.json.id);
    expect(rec?.tags).toEqual({ team: 'search' });
  });

  it('honours the requested outputs', async () => {
    const body = identityRequest();
    body.outputs = [{ name: 'out_INT32' }];
    const res = await infer(srv.base, 'types', body, { key: alice.secret });
    expect(res.status).toBe(200);
    expect(res.json.outputs.map((o: { name: string }) => o.name)).toEqual(['out_INT32']);
  });

  it('round-trips FP32, FP64, FP16, INT32, INT64, UINT8, INT8, BOOL and BYTES through JSON', async () => {
    const res = await infer(srv.base, 'types', identityRequest(), { key: alice.secret });
    expect(res.status).toBe(200);
    const byName = new Map(res.json.outputs.map((o: { name: string; data: unknown[] }) => [o.name, o]));
    for (const [dt, data] of Object.entries(identityValues)) {
      expect(byName.get(`out_${dt}`)).toEqual({ name: `out_${dt}`, datatype: dt, shape: [2, 3], data });
    }
  });
});

const identityValues: Record<string, unknown[]> = {
  FP32: [0.5, -1.25, 3, 1e-3, 100.125, -4],
  FP64: [Math.PI, -1e300, 2.5, 0.1, -7, 1e-300],
  FP16: [0.5, -2, 1024, 0.25, -0.125, 65504],
  INT32: [1, -2, 2147483647, -2147483648, 0, 7],
  INT64: [1, -2, 9007199254740991, -9007199254740991, 0, 42],
  UINT8: [0, 1, 2, 127, 128, 255],
  INT8: [-128, -1, 0, 1, 64, 127],
  BOOL: [true, false, true, true, false, false],
  BYTES: ['a', 'bc', '', 'déf', 'x y', '0'],
};
identityValues.FP32 = identityValues.FP32!.map((v) => Math.fround(v as number));

function identityRequest(): Record<string, unknown> {
  return { inputs: Object.entries(identityValues).map(([dt, data]) => ({ name: `in_${dt}`, datatype: dt, shape: [2, 3], data })) };
}

function bytesOf(dt: string, data: unknown[]): Uint8Array {
  switch (dt) {
    case 'FP32':
      return new Uint8Array(Float32Array.from(data as number[]).buffer);
    case 'FP64':
      return new Uint8Array(Float64Array.from(data as number[]).buffer);
    case 'FP16':
      return new Uint8Array(Uint16Array.from([0x3800, 0xc000, 0x6400, 0x3400, 0xb000, 0x7bff]).buffer);
    case 'INT32':
      return new Uint8Array(Int32Array.from(data as number[]).buffer);
    case 'INT64':
      return new Uint8Array(BigInt64Array.from((data as number[]).map(BigInt)).buffer);
    case 'UINT8':
      return Uint8Array.from(data as number[]);
    case 'INT8':
      return new Uint8Array(Int8Array.from(data as number[]).buffer);
    case 'BYTES':
      return new Uint8Array(Buffer.concat(
        (data as string[]).map((str) => {
          const b = Buffer.from(str, 'utf8');
          const len = Buffer.alloc(4);
          len.writeUInt32LE(b.length);
          return Buffer.concat([len, b]);
        }),
      ));
    default:
      return Uint8Array.from((data as boolean[]).map((b) => (b ? 1 : 0)));
  }
}

describe('binary tensor extension', () => {
  it('gives exactly the bytes of the JSON encoding, for inputs and outputs', async () => {
    const tensors = Object.entries(identityValues).map(([dt, data]) => bytesOf(dt, data));
    const header = {
      inputs: Object.keys(identityValues).map((dt, i) => ({ name: `in_${dt}`, datatype: dt, shape: [2, 3], parameters: { binary_data_size: tensors[i]!.byteLength } })),
      parameters: { binary_data_output: true },
    };
    const { body, headers } = binaryBody(header, tensors);
    const res = await infer(srv.base, 'types', body, { key: alice.secret, headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/octet-stream');
    const outs = binaryOutputs(res);
    Object.keys(identityValues).forEach((dt, i) => expect(new Uint8Array(outs.get(`out_${dt}`)!)).toEqual(tensors[i]));
    // FP16 bit patterns decode to the JSON values.
    const json = await infer(srv.base, 'types', identityRequest(), { key: alice.secret });
    expect(json.json.outputs.find((o: { name: string }) => o.name === 'out_FP16').data).toEqual(identityValues.FP16);
  });

  it('mlp-demo: binary input and output carry the same numbers as JSON', async () => {
    const rand = prng(3);
    const req = mlpRequest(rand, 4);
    const values = (req.inputs as { data: number[] }[])[0]!.data;
    const viaJson = await infer(srv.base, 'mlp-demo', req, { key: alice.secret });
    const f32 = new Uint8Array(Float32Array.from(values).buffer);
    const { body, headers } = binaryBody(
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [4, 64], parameters: { binary_data_size: f32.byteLength } }], outputs: [{ name: 'output', parameters: { binary_data: true } }] },
      [f32],
    );
    const viaBinary = await infer(srv.base, 'mlp-demo', body, { key: alice.secret, headers });
    expect(viaBinary.status).toBe(200);
    const out = binaryOutputs(viaBinary).get('output')!;
    const decoded = Array.from(new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength)));
    expect(decoded).toEqual(viaJson.json.outputs[0].data);
    // Binary input with JSON output.
    const { body: b2, headers: h2 } = binaryBody({ inputs: [{ name: 'input', datatype: 'FP32', shape: [4, 64], parameters: { binary_data_size: f32.byteLength } }] }, [f32]);
    const mixed = await infer(srv.base, 'mlp-demo', b2, { key: alice.secret, headers: h2 });
    expect(mixed.json.outputs[0].data).toEqual(viaJson.json.outputs[0].data);
  });
});

describe('usage records and metrics', () => {
  it('produces one record per request with the batch cost split by items', async () => {
    const before = srv.sink.records.length;
    const ok = await infer(srv.base, 'mlp-demo', mlpRequest(prng(4), 3, 'usage-ok'), { key: alice.secret });
    const bad = await infer(srv.base, 'mlp-demo', { id: 'usage-bad', inputs: [] }, { key: alice.secret });
    expect(ok.status).toBe(200);
    expect(bad.status).toBe(400);
    const recs = srv.sink.records.slice(before);
    expect(recs).toHaveLength(2);
    const r = recs.find((x) => x.eventId === 'usage-ok')!;
    expect(r).toMatchObject({ requestId: 'usage-ok', tenantId: alice.principal.tenantId, apiKeyId: alice.principal.keyId, model: 'mlp-demo', modelVersion: '1', status: 'ok', httpStatus: 200, items: 3, inputBytes: 3 * 64 * 4, outputBytes: 3 * 10 * 4, device: 'cpu' });
    expect(r.batchSize).toBeGreaterThanOrEqual(3);
    expect(r.billedComputeUs).toBe(Math.round((r.computeUs * 3) / r.batchSize));
    // A failure never owns the idempotency key: its event id is the client's id plus a suffix.
    expect(recs.find((x) => x.requestId === 'usage-bad')).toMatchObject({ eventId: expect.stringMatching(/^usage-bad#[0-9a-f-]{36}$/), status: 'client_error', httpStatus: 400, items: 0 });
  });

  it('exposes per-model counters and histograms at /metrics', async () => {
    const res = await get(srv.base, '/metrics');
    expect(res.status).toBe(200);
    const text = res.raw.toString();
    expect(text).toMatch(/tollgate_inference_request_success_total\{model="mlp-demo",version="1"\} [1-9]/);
    expect(text).toMatch(/tollgate_inference_request_failure_total\{model="mlp-demo",version="1",reason="bad_input"\} [1-9]/);
    expect(text).toMatch(/tollgate_inference_count_total\{model="mlp-demo",version="1"\} [1-9]/);
    expect(text).toMatch(/tollgate_inference_exec_count_total\{model="mlp-demo",version="1"\} [1-9]/);
    expect(text).toContain('tollgate_inference_queue_duration_seconds_bucket');
    expect(text).toContain('tollgate_inference_compute_duration_seconds_bucket');
  });
});

describe('admission and the usage sink', () => {
  const calls: AdmissionRequest[] = [];
  const released: { items: number; ok: boolean; device?: string }[] = [];
  let deny = false;
  const admission: Admission = {
    async admit(req) {
      calls.push(req);
      const headers = { 'ratelimit-limit': '10', 'ratelimit-remaining': deny ? '0' : '9', 'ratelimit-reset': '7' };
      if (deny) return { allowed: false, status: 429, code: 'RATE_LIMITED', message: 'rate limit exceeded', headers, retryAfterSeconds: 7 };
      return { allowed: true, headers, priority: 0, weight: 1, ticket: { release: (o) => released.push(o) } };
    },
  };
  let gated: Running;
  const sink = new (class extends MemoryUsageSink {
    open = true;
    override accepting() {
      return this.open;
    }
  })();
  const repo2 = makeRepo(['mlp-demo']);
  beforeAll(async () => {
    gated = await startServer({ repo: repo2.dir, authenticate: keys.authenticate, admission, usageSink: sink });
  });
  afterAll(async () => {
    await gated?.close();
    repo2.cleanup();
  });

  it('admits after validation with the item count, puts its headers on the answer and releases the ticket', async () => {
    const res = await infer(gated.base, 'mlp-demo', mlpRequest(prng(5), 2, 'adm-1'), { key: alice.secret });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-remaining')).toBe('9');
    expect(calls.at(-1)).toEqual({ tenantId: alice.principal.tenantId, apiKeyId: alice.principal.keyId, model: 'mlp-demo', items: 2, eventId: 'adm-1', device: 'cpu', fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(released.at(-1)).toMatchObject({ items: 2, ok: true, device: 'cpu' });
    const n = calls.length;
    expect((await infer(gated.base, 'mlp-demo', { inputs: [{ name: 'input' }] }, { key: alice.secret })).status).toBe(400);
    expect(calls.length).toBe(n); // invalid requests never reach admission
  });

  it('answers a denial with its status, headers and Retry-After, and counts it as a refusal (no usage row)', async () => {
    deny = true;
    try {
      const res = await infer(gated.base, 'mlp-demo', mlpRequest(prng(6), 1, 'adm-denied'), { key: alice.secret });
      expect(res.status).toBe(429);
      expect(res.json).toEqual({ error: 'rate limit exceeded' });
      expect(res.headers.get('retry-after')).toBe('7');
      expect(res.headers.get('ratelimit-remaining')).toBe('0');
      expect(sink.records.find((r) => r.requestId === 'adm-denied')).toBeUndefined();
      expect(sink.rejections.at(-1)).toMatchObject({ tenantId: alice.principal.tenantId, httpStatus: 429, reason: 'rate_limited' });
    } finally {
      deny = false;
    }
  });

  it('answers 503 before any work while the usage sink is not accepting', async () => {
    sink.open = false;
    const n = calls.length;
    try {
      const res = await infer(gated.base, 'mlp-demo', mlpRequest(prng(7), 1), { key: alice.secret });
      expect(res.status).toBe(503);
      expect(res.json.error).toMatch(/usage/);
      expect(calls.length).toBe(n);
    } finally {
      sink.open = true;
    }
  });

  it('answers 503 and no result when the usage record cannot be made durable', async () => {
    const original = sink.record.bind(sink);
    sink.record = async () => {
      throw new Error('disk full');
    };
    try {
      const res = await infer(gated.base, 'mlp-demo', mlpRequest(prng(8), 1), { key: alice.secret });
      expect(res.status).toBe(503);
      expect(res.json.outputs).toBeUndefined();
    } finally {
      sink.record = original;
    }
  });
});
