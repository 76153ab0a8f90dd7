/** The bad-input list: each answer is {"error": ...} with the right status, and the server stays healthy. Plus a seeded fuzz run. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryBody, get, infer, makeRepo, mlpRequest, post, prng, staticKeys, startServer, writeIdentityModel, type Running } from './helpers.js';

const keys = staticKeys();
const alice = keys.add();
const repo = makeRepo(['mlp-demo', 'silero-vad']);
writeIdentityModel(repo.dir, 'types');
const MAX_BODY = 256 * 1024;
let srv: Running;

beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate, env: { INFERENCE_MAX_BODY_BYTES: String(MAX_BODY) } });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

const input = (over: Record<string, unknown> = {}) => ({ name: 'input', datatype: 'FP32', shape: [1, 64], data: new Array(64).fill(0.5), ...over });
const body = (inputs: unknown[], extra: Record<string, unknown> = {}) => ({ inputs, ...extra });

async function expectError(p: Promise<{ status: number; json: unknown }>, status: number, match?: RegExp) {
  const res = await p;
  expect(res.status).toBe(status);
  expect(res.json).toEqual({ error: expect.any(String) });
  if (match) expect((res.json as { error: string }).error).toMatch(match);
}

describe('bad input', () => {
  const k = () => ({ key: alice.secret });

  it('malformed JSON and non-object bodies: 400', async () => {
    await expectError(infer(srv.base, 'mlp-demo', '{"inputs": [', k()), 400, /malformed JSON/);
    await expectError(infer(srv.base, 'mlp-demo', '', k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', '[1,2]', k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', '"x"', k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', '[', { ...k(), headers: { 'content-type': 'text/plain' } }), 400);
  });

  it('unknown model or version: 404', async () => {
    await expectError(infer(srv.base, 'no-such-model', body([input()]), k()), 404);
    await expectError(infer(srv.base, 'mlp-demo', body([input()]), { ...k(), version: '2' }), 404);
    await expectError(infer(srv.base, 'mlp-demo', body([input()]), { ...k(), version: 'latest' }), 404);
  });

  it('missing, extra and duplicate inputs: 400', async () => {
    await expectError(infer(srv.base, 'mlp-demo', body([]), k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', {}, k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', body([input(), input({ name: 'other' })]), k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ name: 'other' })]), k()), 400, /unexpected input/);
    await expectError(infer(srv.base, 'mlp-demo', body([input(), input()]), k()), 400);
    await expectError(infer(srv.base, 'types', body([{ name: 'in_FP32', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }]), k()), 400, /missing input/);
    await expectError(infer(srv.base, 'mlp-demo', body([input()], { outputs: [{ name: 'nope' }] }), k()), 400, /unknown output/);
  });

  it('wrong datatype: 400', async () => {
    await expectError(infer(srv.base, 'mlp-demo', body([input({ datatype: 'FP64' })]), k()), 400, /datatype/);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ datatype: 'FLOAT' })]), k()), 400, /datatype/);
  });

  it('shapes that do not match the model: 400', async () => {
    await expectError(infer(srv.base, 'mlp-demo', body([input({ shape: [1, 63], data: new Array(63).fill(0) })]), k()), 400, /shape/);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ shape: [64] })]), k()), 400, /shape/);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ shape: [65, 64], data: new Array(65 * 64).fill(0) })]), k()), 400, /max_batch_size/);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ shape: [0, 64], data: [] })]), k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ shape: [-1, 64] })]), k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ shape: [1.5, 64] })]), k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ shape: 'big' })]), k()), 400);
  });

  it('data length that does not match the shape: 400', async () => {
    await expectError(infer(srv.base, 'mlp-demo', body([input({ data: new Array(63).fill(0) })]), k()), 400, /elements/);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ data: new Array(65).fill(0) })]), k()), 400, /elements/);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ data: undefined })]), k()), 400, /data/);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ data: [[[new Array(64).fill(0)]]] })]), k()), 400);
  });

  it('a huge shape with a tiny body is refused before anything is allocated: 400', async () => {
    const big = [
      { name: 'input', datatype: 'FP32', shape: [100_000, 100_000], data: [0] },
      { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: new Array(256).fill(0) },
      { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
    ];
    await expectError(infer(srv.base, 'silero-vad', body(big), k()), 400, /more elements/);
    big[0]!.shape = [2 ** 40, 2 ** 40];
    await expectError(infer(srv.base, 'silero-vad', body(big), k()), 400);
    const { body: b, headers } = binaryBody({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], parameters: { binary_data_size: 2 ** 40 } }] }, [new Uint8Array(8)]);
    await expectError(infer(srv.base, 'mlp-demo', b, { ...k(), headers }), 400, /binary_data_size/);
  });

  it('a body over the size limit: 413', async () => {
    const huge = '{"inputs":[' + ' '.repeat(MAX_BODY) + ']}';
    await expectError(infer(srv.base, 'mlp-demo', huge, k()), 413);
    // Refused before any work: counted, not a usage row (issue 17.7).
    expect(srv.sink.rejections.at(-1)).toMatchObject({ httpStatus: 413, reason: 'too_large' });
  });

  it('binary-extension sizes that do not add up: 400', async () => {
    const t = new Uint8Array(Float32Array.from(new Array(64).fill(0.5)).buffer);
    const hdr = (size: number) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], parameters: { binary_data_size: size } }] });
    for (const [h, tensors] of [
      [hdr(255), [t]],
      [hdr(256), [t, new Uint8Array(4)]],
      [hdr(260), [t, new Uint8Array(4)]],
      [hdr(-4), [t]],
      [hdr(256), [t.subarray(0, 200)]],
    ] as const) {
      const { body: b, headers } = binaryBody(h, [...tensors]);
      await expectError(infer(srv.base, 'mlp-demo', b, { ...k(), headers }), 400);
    }
    const { body: b } = binaryBody(hdr(256), [t]);
    await expectError(infer(srv.base, 'mlp-demo', b, { ...k(), headers: { 'inference-header-content-length': String(b.length + 1) } }), 400, /exceeds/);
    await expectError(infer(srv.base, 'mlp-demo', b, { ...k(), headers: { 'inference-header-content-length': 'ten' } }), 400);
    await expectError(infer(srv.base, 'mlp-demo', b, { ...k(), headers: { 'inference-header-content-length': '5' } }), 400, /malformed JSON/);
    await expectError(infer(srv.base, 'mlp-demo', b, k()), 400, /malformed JSON/); // binary without the header
  });

  it('non-numeric or out-of-range data: 400', async () => {
    await expectError(infer(srv.base, 'mlp-demo', body([input({ data: ['a', ...new Array(63).fill(0)] })]), k()), 400, /not a number/);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ data: [null, ...new Array(63).fill(0)] })]), k()), 400);
    await expectError(infer(srv.base, 'mlp-demo', body([input({ data: [{}, ...new Array(63).fill(0)] })]), k()), 400);
    const typed = (dt: string, data: unknown[]) =>
      body(
        ['FP32', 'FP64', 'FP16', 'INT32', 'INT64', 'UINT8', 'INT8', 'BOOL', 'BYTES'].map((d) => ({
          name: `in_${d}`,
          datatype: d,
          shape: [1, 3],
          data: d === dt ? data : d === 'BOOL' ? [true, true, true] : d === 'BYTES' ? ['a', 'b', 'c'] : [1, 2, 3],
        })),
      );
    expect((await infer(srv.base, 'types', typed('INT32', [1, 2, 3]), k())).status).toBe(200);
    await expectError(infer(srv.base, 'types', typed('INT32', [1.5, 2, 3]), k()), 400, /integer/);
    await expectError(infer(srv.base, 'types', typed('UINT8', [256, 2, 3]), k()), 400, /integer/);
    await expectError(infer(srv.base, 'types', typed('INT8', [-129, 2, 3]), k()), 400, /integer/);
    await expectError(infer(srv.base, 'types', typed('BOOL', [2, true, false]), k()), 400, /boolean/);
    await expectError(infer(srv.base, 'types', typed('INT64', ['1', 2, 3]), k()), 400);
    await expectError(infer(srv.base, 'types', typed('BYTES', ['a', 2, 'c']), k()), 400, /string/);
  });

  it('missing or bad API key: 401', async () => {
    await expectError(infer(srv.base, 'mlp-demo', body([input()])), 401);
    await expectError(infer(srv.base, 'mlp-demo', body([input()]), { key: 'not-a-key' }), 401);
    await expectError(post(srv.base, '/v2/models/mlp-demo/infer', JSON.stringify(body([input()])), { headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 401);
    await expectError(post(srv.base, '/v2/models/mlp-demo/infer', JSON.stringify(body([input()])), { headers: { authorization: 'Bearer' } }), 401);
    // A 401 tells nothing about the model.
    await expectError(infer(srv.base, 'no-such-model', body([input()])), 401);
  });

  it('unknown routes answer 404 in the OIP error shape', async () => {
    await expectError(get(srv.base, '/v2/nothing'), 404);
    await expectError(post(srv.base, '/v2/models/mlp-demo/explain', '{}', { key: alice.secret }), 404);
  });

  it('is still healthy and serving afterwards', async () => {
    expect((await get(srv.base, '/v2/health/ready')).status).toBe(200);
    expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(1), 2), k())).status).toBe(200);
  });
});

describe('fuzz', () => {
  const rand = prng(20261128);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (n: number) => Math.floor(rand() * n);
  const weird: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53, '', 'x', '1', [], {}, [[]], { a: 1 }, '\u0000', 'FP32'];

  function mutateValue(v: unknown, depth = 0): unknown {
    if (depth > 3 || rand() < 0.3) return pick(weird);
    if (Array.isArray(v)) {
      const copy = [...v];
      const op = int(4);
      if (op === 0 && copy.length > 0) copy.splice(int(copy.length), 1);
      else if (op === 1) copy.push(pick(weird));
      else if (op === 2 && copy.length > 0) {
        const i = int(copy.length);
        copy[i] = mutateValue(copy[i], depth + 1);
      } else copy.reverse();
      return copy;
    }
    if (v && typeof v === 'object') {
      const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
      const keysOf = Object.keys(copy);
      const op = int(3);
      if (op === 0 && keysOf.length > 0) delete copy[pick(keysOf)];
      else if (op === 1 && keysOf.length > 0) {
        const key = pick(keysOf);
        copy[key] = mutateValue(copy[key], depth + 1);
      } else copy[pick(['id', 'parameters', 'outputs', 'inputs', 'shape', 'data', 'datatype', 'name', 'binary_data_size'])] = pick(weird);
      return copy;
    }
    return pick(weird);
  }

  function validDoc(): { model: string; doc: Record<string, unknown> } {
    const which = int(3);
    if (which === 0) return { model: 'mlp-demo', doc: mlpRequest(rand, 1 + int(3), `f${int(1e6)}`) };
    if (which === 1)
      return {
        model: 'types',
        doc: body(
          ['FP32', 'FP64', 'FP16', 'INT32', 'INT64', 'UINT8', 'INT8', 'BOOL', 'BYTES'].map((d) => ({
            name: `in_${d}`,
            datatype: d,
            shape: [1, 3],
            data: d === 'BOOL' ? [true, false, true] : d === 'BYTES' ? ['x', '', 'yz'] : [1, 2, 3],
          })),
        ),
      };
    return {
      model: 'silero-vad',
      doc: body([
        { name: 'input', datatype: 'FP32', shape: [1, 512], data: new Array(512).fill(0) },
        { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: new Array(256).fill(0) },
        { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
      ]),
    };
  }

  function malformed(): { model: string; payload: string | Buffer; headers: Record<string, string>; version?: string } {
    const { model, doc } = validDoc();
    const headers: Record<string, string> = {};
    const kind = int(8);
    if (kind === 0) {
      // structural mutation of a valid document
      let d: unknown = doc;
      for (let i = 0, n = 1 + int(4); i < n; i++) d = mutateValue(d);
      return { model, payload: JSON.stringify(d), headers };
    }
    if (kind === 1) {
      // byte-level damage of the JSON text
      const text = Buffer.from(JSON.stringify(doc));
      for (let i = 0, n = 1 + int(6); i < n; i++) text[int(text.length)] = int(256);
      return { model, payload: int(2) ? text : text.subarray(0, int(text.length)), headers };
    }
    if (kind === 2) {
      // shapes from a nasty distribution
      const inputs = (doc.inputs as Record<string, unknown>[]).map((inp) => ({ ...inp, shape: Array.from({ length: int(6) }, () => pick([0, 1, 2, 3, 64, 512, -1, 2 ** 31, 2 ** 52, 1.5, '2'])) }));
      return { model, payload: JSON.stringify({ ...doc, inputs }), headers };
    }
    if (kind === 3) {
      // binary extension with inconsistent sizes
      const tail = Buffer.alloc(int(600));
      const inputs = (doc.inputs as Record<string, unknown>[]).map((inp) => ({ ...inp, data: undefined, parameters: { binary_data_size: pick([0, 4, 256, tail.length, -1, 2 ** 40, 1.5, 'x']) } }));
      const head = Buffer.from(JSON.stringify({ ...doc, inputs }));
      headers['inference-header-content-length'] = pick([String(head.length), String(head.length + int(10) - 5), '-1', 'abc', '99999999999', '']);
      return { model, payload: Buffer.concat([head, tail]), headers };
    }
    if (kind === 4) {
      // wrong datatypes and names
      const inputs = (doc.inputs as Record<string, unknown>[]).map((inp) => ({ ...inp, datatype: pick(['FP32', 'FP16', 'BYTES', 'INT64', 'BOOL', 'fp32', '', 'STRING']), name: int(4) ? inp.name : pick(['x', '', 'input ', 'in_FP32']) }));
      return { model, payload: JSON.stringify({ ...doc, inputs }), headers };
    }
    if (kind === 5) {
      // deep nesting
      const depth = pick([10, 1000, 100_000]);
      return { model, payload: `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,64],"data":${'['.repeat(depth)}1${']'.repeat(depth)}}]}`, headers };
    }
    if (kind === 6) {
      // random routes, versions and content types
      headers['content-type'] = pick(['application/json', 'text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x', '']);
      return { model: pick([model, 'x', '..', '%2e%2e', 'mlp-demo%00']), version: pick([undefined, '0', '1', '01', '-1', '99999999999', 'a']), payload: JSON.stringify(doc), headers };
    }
    // random bytes
    return { model, payload: Buffer.from(Array.from({ length: int(300) }, () => int(256))), headers };
  }

  it('answers thousands of random malformed requests without a 5xx or a crash', async () => {
    const N = 2000;
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < N) {
        next++;
        const m = malformed();
        const url = m.version === undefined ? `/v2/models/${m.model}/infer` : `/v2/models/${m.model}/versions/${m.version}/infer`;
        const res = await post(srv.base, url, m.payload, { key: rand() < 0.97 ? alice.secret : pick(['', 'bad', alice.secret + 'x']), headers: m.headers });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) throw new Error(`status ${res.status} for ${String(m.payload).slice(0, 300)}: ${JSON.stringify(res.json)}`);
        if (res.status !== 200) expect(res.json).toEqual({ error: expect.any(String) });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(N / 2);
    expect((await get(srv.base, '/v2/health/live')).status).toBe(200);
    expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(2), 3), { key: alice.secret })).status).toBe(200);
  });
});
