/**
 * Protocol details that Triton's and KServe's clients depend on, against the real server:
 * health bodies, exactly `application/json` (KServe's client drops the error text otherwise),
 * trailing-slash paths, and Triton's model configuration endpoint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowAll, type Admission } from '../../src/quotas/index.js';
import { get, infer, makeRepo, mlpRequest, post, prng, rawRequest, staticKeys, startServer, writeIdentityModel, type Reply, type Running } from './helpers.js';
import { tritonGetJson } from './triton-client.js';

const keys = staticKeys();
const alice = keys.add();
const bob = keys.add();
const repo = makeRepo(['mlp-demo', 'silero-vad', 'ocr-cls', { from: 'mlp-demo', as: 'alices', config: { visibility: { tenant: alice.principal.tenantId } } }]);
writeIdentityModel(repo.dir, 'types');
let srv: Running;

beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate, env: { INFERENCE_MAX_BODY_BYTES: '65536' } });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

/** KServe's InferenceRESTClient keeps an error's text only when the type is exactly application/json. */
function kserveErrorText(r: Reply): string {
  return r.headers.get('content-type') === 'application/json' ? (r.json as { error?: string }).error ?? '' : '';
}

describe('health bodies (KServe parses them; Triton reads the status)', () => {
  it('answers live and ready with JSON, and 503 {"ready": false} while nothing is loaded', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'tollgate-empty-'));
    const bare = await startServer({ repo: empty, authenticate: keys.authenticate });
    try {
      const live = await get(bare.base, '/v2/health/live');
      expect([live.status, live.headers.get('content-type'), live.json]).toEqual([200, 'application/json', { live: true }]);
      const ready = await get(bare.base, '/v2/health/ready');
      expect([ready.status, ready.headers.get('content-type'), ready.json]).toEqual([503, 'application/json', { ready: false }]);
    } finally {
      await bare.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('turns server and model readiness to 503 + JSON as soon as shutdown begins', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const admission: Admission = {
      async admit(req) {
        if (req.eventId === 'held') await held;
        return allowAll.admit(req);
      },
    };
    const repo2 = makeRepo(['mlp-demo']);
    const s = await startServer({ repo: repo2.dir, authenticate: keys.authenticate, admission });
    try {
      expect((await get(s.base, '/v2/models/mlp-demo/ready', alice.secret)).json).toEqual({ name: 'mlp-demo', ready: true });
      const inflight = infer(s.base, 'mlp-demo', mlpRequest(prng(1), 1, 'held'), { key: alice.secret });
      await new Promise((r) => setTimeout(r, 100));
      const closing = s.close(); // waits for the held request
      const ready = await get(s.base, '/v2/health/ready');
      expect([ready.status, ready.json]).toEqual([503, { ready: false }]);
      const model = await get(s.base, '/v2/models/mlp-demo/ready', alice.secret);
      expect([model.status, model.headers.get('content-type'), model.json]).toEqual([503, 'application/json', { name: 'mlp-demo', ready: false }]);
      release();
      expect((await inflight).status).toBe(200);
      await closing;
    } finally {
      release();
      await s.close();
      repo2.cleanup();
    }
  });

  it('answers an unknown model on /ready with 404 {"error"}', async () => {
    const r = await get(srv.base, '/v2/models/nope/versions/3/ready', alice.secret);
    expect([r.status, r.json]).toEqual([404, { error: 'model "nope" version "3" not found' }]);
  });
});

describe('Content-Type is exactly application/json, bodies UTF-8', () => {
  it('on every error status of the inference role', async () => {
    const body = JSON.stringify(mlpRequest(prng(2), 1));
    const cases: [number, Promise<Reply>][] = [
      [400, post(srv.base, '/v2/models/mlp-demo/infer', '{"inputs": [', { key: alice.secret })],
      [401, get(srv.base, '/v2/models/mlp-demo')],
      [401, get(srv.base, '/v2/models/mlp-demo/config', 'wrong')],
      [404, get(srv.base, '/v2/models/nope', alice.secret)],
      [404, get(srv.base, '/v2/nothing-here')],
      [413, post(srv.base, '/v2/models/mlp-demo/infer', ' '.repeat(70_000) + body, { key: alice.secret })],
      [415, post(srv.base, '/v2/models/mlp-demo/infer', body, { key: alice.secret, headers: { 'content-encoding': 'br' } })],
    ];
    for (const [status, pending] of cases) {
      const r = await pending;
      expect(r.status).toBe(status);
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(kserveErrorText(r)).toEqual(expect.any(String));
      expect(kserveErrorText(r).length).toBeGreaterThan(0);
    }
  });

  it('on the JSON answers too, and non-ASCII text is UTF-8', async () => {
    for (const url of ['/v2', '/v2/health/live', '/v2/models/mlp-demo', '/v2/models/mlp-demo/ready', '/v2/models/mlp-demo/config']) {
      const r = await get(srv.base, url, alice.secret);
      expect([url, r.status, r.headers.get('content-type')]).toEqual([url, 200, 'application/json']);
    }
    const res = await infer(srv.base, 'mlp-demo', mlpRequest(prng(3), 1, 'é-ütf8'), { key: alice.secret });
    expect([res.status, res.headers.get('content-type'), res.json.id]).toEqual([200, 'application/json', 'é-ütf8']);
    expect(res.raw.includes(Buffer.from('é-ütf8', 'utf8'))).toBe(true);
    const missing = await get(srv.base, `/v2/models/${encodeURIComponent('modèle')}`, alice.secret);
    expect(missing.json).toEqual({ error: 'model "modèle" not found' });
    expect(missing.raw.includes(Buffer.from('modèle', 'utf8'))).toBe(true);
  });
});

describe('trailing slashes and doubled slashes', () => {
  it('answer like the canonical paths', async () => {
    const pairs: [string, string][] = [
      ['/v2/', '/v2'],
      ['/v2/health/live/', '/v2/health/live'],
      ['/v2/health/ready/', '/v2/health/ready'],
      ['/v2/models/mlp-demo/', '/v2/models/mlp-demo'],
      ['/v2/models/mlp-demo/ready/', '/v2/models/mlp-demo/ready'],
      ['/v2/models/mlp-demo/config/', '/v2/models/mlp-demo/config'],
      ['/v2/models/mlp-demo/versions/1/', '/v2/models/mlp-demo/versions/1'],
      ['//v2/models/mlp-demo', '/v2/models/mlp-demo'],
    ];
    for (const [variant, canonical] of pairs) {
      const [a, b] = await Promise.all([get(srv.base, variant, alice.secret), get(srv.base, canonical, alice.secret)]);
      expect([variant, a.status, a.json]).toEqual([variant, 200, b.json]);
    }
    const res = await post(srv.base, '/v2/models/mlp-demo/infer/', JSON.stringify(mlpRequest(prng(4), 2, 'slash')), { key: alice.secret });
    expect([res.status, res.json.id, res.json.outputs[0].shape]).toEqual([200, 'slash', [2, 10]]);
  });
});

describe("Triton's model configuration (GET …/config)", () => {
  it('describes a batched model as Triton prints its config.pbtxt', async () => {
    const r = await get(srv.base, '/v2/models/mlp-demo/config', alice.secret);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      name: 'mlp-demo',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      runtime: '',
      version_policy: { all: {} },
      max_batch_size: 64,
      input: [{ name: 'input', data_type: 'TYPE_FP32', format: 'FORMAT_NONE', dims: [64], is_shape_tensor: false, allow_ragged_batch: false, optional: false, is_non_linear_format_io: false }],
      output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [10], label_filename: '', is_shape_tensor: false, is_non_linear_format_io: false }],
      batch_input: [],
      batch_output: [],
      dynamic_batching: {
        preferred_batch_size: [16, 32, 64],
        max_queue_delay_microseconds: 500,
        preserve_ordering: false,
        priority_levels: 0,
        default_priority_level: 0,
        default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 30_000_000, allow_timeout_override: true, max_queue_size: 1024 },
        priority_queue_policy: {},
      },
      instance_group: [{ name: 'mlp-demo', kind: 'KIND_CPU', count: 2, gpus: [], secondary_devices: [], profile: [], passive: false, host_policy: '' }],
      default_model_filename: 'model.onnx',
      cc_model_filenames: {},
      metric_tags: {},
      parameters: {},
      model_warmup: [],
    });
    // The same document per version, and as tritonclient's get_model_config reads it.
    expect((await get(srv.base, '/v2/models/mlp-demo/versions/1/config', alice.secret)).json).toEqual(r.json);
    expect(await tritonGetJson(srv.base, '/v2/models/mlp-demo/config', alice.secret)).toEqual({ status: 200, json: r.json });
  });

  it('keeps every dimension of a model that does not batch, and names Triton data types', async () => {
    const vad = (await get(srv.base, '/v2/models/silero-vad/config', alice.secret)).json;
    expect(vad).toMatchObject({ name: 'silero-vad', max_batch_size: 0 });
    expect(vad.dynamic_batching).toBeUndefined();
    expect(vad.input.map((t: { name: string; data_type: string; dims: number[] }) => [t.name, t.data_type, t.dims])).toEqual([
      ['input', 'TYPE_FP32', [-1, -1]],
      ['state', 'TYPE_FP32', [2, -1, 128]],
      ['sr', 'TYPE_INT64', []],
    ]);
    const types = (await get(srv.base, '/v2/models/types/config', alice.secret)).json;
    expect(Object.fromEntries(types.output.map((t: { name: string; data_type: string }) => [t.name, t.data_type]))).toMatchObject({
      out_FP16: 'TYPE_FP16',
      out_INT64: 'TYPE_INT64',
      out_BOOL: 'TYPE_BOOL',
      out_BYTES: 'TYPE_STRING',
    });
    expect(types.input.every((t: { dims: number[] }) => JSON.stringify(t.dims) === '[3]')).toBe(true);
    const cls = (await get(srv.base, '/v2/models/ocr-cls/config', alice.secret)).json;
    expect(cls.output[0]).toMatchObject({ name: 'softmax_0.tmp_0', dims: [2], label_filename: 'labels.txt' });
  });

  it('follows the metadata rules: a key, visibility, known versions', async () => {
    expect((await get(srv.base, '/v2/models/mlp-demo/config')).status).toBe(401);
    expect((await get(srv.base, '/v2/models/alices/config', alice.secret)).json).toMatchObject({ name: 'alices' });
    const hidden = await get(srv.base, '/v2/models/alices/config', bob.secret);
    const missing = await get(srv.base, '/v2/models/nobodys/config', bob.secret);
    expect([hidden.status, hidden.json]).toEqual([404, { error: 'model "alices" not found' }]);
    expect([missing.status, missing.json]).toEqual([404, { error: 'model "nobodys" not found' }]);
    expect((await get(srv.base, '/v2/models/mlp-demo/versions/9/config', alice.secret)).status).toBe(404);
  });

  it('is listed in the server extensions', async () => {
    const meta = await rawRequest(srv.base, { path: '/v2' });
    expect(JSON.parse(meta.body.toString()).extensions).toEqual(expect.arrayContaining(['binary_tensor_data', 'classification', 'model_configuration']));
  });
});

describe('extensions Tollgate does not implement', () => {
  it('answer with a clear JSON error instead of misbehaving', async () => {
    const shm = await infer(srv.base, 'mlp-demo', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], parameters: { shared_memory_region: 'r0', shared_memory_byte_size: 256 } }] }, { key: alice.secret });
    expect([shm.status, shm.json]).toEqual([400, { error: `input "input": Triton's shared-memory extension is not supported; send the tensor as JSON data or binary data` }]);
    for (const [method, url] of [
      ['GET', '/v2/systemsharedmemory/status'],
      ['POST', '/v2/repository/index'],
      ['GET', '/v2/trace/setting'],
      ['GET', '/v2/logging'],
    ] as const) {
      const r = await rawRequest(srv.base, { method, path: url, headers: { authorization: `Bearer ${alice.secret}` } });
      expect([url, r.status, r.headers['content-type']]).toEqual([url, 404, 'application/json']);
      expect(JSON.parse(r.body.toString()).error).toMatch(/^no route/);
    }
  });
});
