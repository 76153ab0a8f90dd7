/**
 * Content codings on the inference role, against the real server: gzip/deflate request bodies
 * (JSON and Triton's binary extension, whose header length counts the decoded body), the body
 * limit applied to decoded bytes (a zip bomb is refused while the client is still sending it),
 * undecodable bodies (400), unknown codings (415), and Accept-Encoding on large answers.
 */
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { deflateRawSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, infer, makeRepo, mlpRequest, post, prng, rawRequest, randomFloats, staticKeys, startServer, type Running } from './helpers.js';
import { TritonResult, tritonError, tritonInfer } from './triton-client.js';
import { decodeBody } from '../../inference/src/http/encoding.js';

const LIMIT = 64 * 1024;
const keys = staticKeys();
const alice = keys.add();
const repo = makeRepo(['mlp-demo']);
let srv: Running;

beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate, env: { INFERENCE_MAX_BODY_BYTES: String(LIMIT) } });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

const url = '/v2/models/mlp-demo/infer';
const jsonHeaders = (encoding: string) => ({ 'content-encoding': encoding, 'content-type': 'application/json' });

describe('compressed requests', () => {
  it('decodes gzip and deflate (zlib) JSON bodies to the same answer as plain JSON', async () => {
    const body = JSON.stringify(mlpRequest(prng(1), 3, 'same'));
    const plain = await post(srv.base, url, body, { key: alice.secret });
    const gz = await post(srv.base, url, gzipSync(body), { key: alice.secret, headers: jsonHeaders('gzip') });
    const xgz = await post(srv.base, url, gzipSync(body), { key: alice.secret, headers: jsonHeaders('x-gzip') });
    const df = await post(srv.base, url, deflateSync(body), { key: alice.secret, headers: jsonHeaders('deflate') });
    const id = await post(srv.base, url, body, { key: alice.secret, headers: jsonHeaders('identity') });
    expect(plain.status).toBe(200);
    for (const r of [gz, xgz, df, id]) expect([r.status, r.json]).toEqual([200, plain.json]);
  });

  it("takes Triton's binary extension compressed, with Inference-Header-Content-Length counting the decoded JSON", async () => {
    const values = randomFloats(prng(2), 2 * 64);
    const raw = Buffer.from(Float32Array.from(values).buffer);
    const expected = await infer(srv.base, 'mlp-demo', { inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 64], data: values }] }, { key: alice.secret });
    for (const requestCompression of ['gzip', 'deflate'] as const) {
      const reply = await tritonInfer(srv.base, 'mlp-demo', [{ name: 'input', shape: [2, 64], datatype: 'FP32', raw }], undefined, { key: alice.secret, requestCompression });
      const result = new TritonResult(reply);
      expect(result.asArray('output')).toEqual({ shape: [2, 10], datatype: 'FP32', values: expected.json.outputs[0].data });
    }
  });

  it('refuses bodies that are not what their Content-Encoding says with 400, and records nothing as served', async () => {
    const body = JSON.stringify(mlpRequest(prng(3), 1, 'not-gzip'));
    const cases: [string, Buffer][] = [
      ['gzip', Buffer.from(body)], // labelled gzip, sent plain (was a 200 before)
      ['gzip', gzipSync(body).subarray(0, 40)], // truncated
      ['deflate', deflateRawSync(body)], // raw deflate: not the zlib format HTTP's "deflate" names
      ['gzip', Buffer.alloc(0)],
    ];
    for (const [encoding, payload] of cases) {
      const r = await post(srv.base, url, payload, { key: alice.secret, headers: jsonHeaders(encoding) });
      expect([r.status, r.headers.get('content-type')]).toEqual([400, 'application/json']);
      expect(r.json.error).toMatch(new RegExp(`not valid ${encoding} data`));
    }
    expect(srv.sink.records.filter((r) => r.requestId === 'not-gzip' && r.status === 'ok')).toEqual([]);
  });

  it('ignores Content-Encoding on requests without a body', async () => {
    const r = await rawRequest(srv.base, { path: '/v2/models/mlp-demo', headers: { authorization: `Bearer ${alice.secret}`, 'content-encoding': 'br' } });
    expect([r.status, JSON.parse(r.body.toString()).name]).toEqual([200, 'mlp-demo']);
  });

  it('answers 415 naming the accepted codings for an unknown or stacked Content-Encoding', async () => {
    const body = JSON.stringify(mlpRequest(prng(4), 1));
    for (const encoding of ['br', 'compress', 'zstd', 'gzip, gzip']) {
      const r = await post(srv.base, url, body, { key: alice.secret, headers: jsonHeaders(encoding) });
      expect([r.status, r.headers.get('accept-encoding')]).toEqual([415, 'gzip, deflate']);
      expect(r.json.error).toMatch(/Content-Encoding/);
    }
  });

  it('applies the body limit to the decoded bytes: exactly the limit passes, one byte more is 413', async () => {
    const json = JSON.stringify(mlpRequest(prng(5), 1));
    const atLimit = json + ' '.repeat(LIMIT - Buffer.byteLength(json));
    expect(Buffer.byteLength(atLimit)).toBe(LIMIT);
    const ok = await post(srv.base, url, gzipSync(atLimit), { key: alice.secret, headers: jsonHeaders('gzip') });
    expect(ok.status).toBe(200);
    const over = await post(srv.base, url, gzipSync(`${atLimit} `), { key: alice.secret, headers: jsonHeaders('gzip') });
    expect([over.status, over.json]).toEqual([413, { error: `the decoded request body exceeds the size limit (${LIMIT} bytes)` }]);
  });

  it('refuses a zip bomb with 413 while the client is still sending it, and keeps serving', async () => {
    // gzip members of 1 MiB of zeros (~1 KB each). Sent chunked (no Content-Length), so only the
    // decoded count can stop it: 8 members are written and the body is never finished. A server
    // that buffered the compressed body first would never answer.
    const member = gzipSync(Buffer.alloc(1024 * 1024));
    const head = Buffer.concat(Array.from({ length: 8 }, () => member));
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(srv.base + url, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.secret}`, 'content-type': 'application/json', 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        req.destroy();
      });
      req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
      req.write(head);
    });
    expect(status).toBe(413);
    // Sent whole: 40 MiB decoded from ~40 KB, under the limit as compressed bytes.
    const small = Buffer.concat(Array.from({ length: 40 }, () => member));
    expect(small.length).toBeLessThan(LIMIT);
    const r = await post(srv.base, url, small, { key: alice.secret, headers: jsonHeaders('gzip') });
    expect(r.status).toBe(413);
    expect((await get(srv.base, '/v2/health/ready')).status).toBe(200);
    expect((await infer(srv.base, 'mlp-demo', mlpRequest(prng(6), 1), { key: alice.secret })).status).toBe(200);
  });
});

describe('compressed answers (Accept-Encoding)', () => {
  const big = () => JSON.stringify(mlpRequest(prng(7), 16, 'big')); // answer: 160 floats, ~3 KB of JSON
  const send = (acceptEncoding?: string) =>
    rawRequest(srv.base, { method: 'POST', path: url, headers: { authorization: `Bearer ${alice.secret}`, 'content-type': 'application/json', ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}) }, body: big() });

  it('compresses a large answer with gzip or deflate by q-value, saying Vary: Accept-Encoding', async () => {
    const plain = await send();
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/accept-encoding/i);
    expect(plain.body.length).toBeGreaterThan(1024);
    const cases: [string, string | undefined, (b: Buffer) => Buffer][] = [
      ['gzip', 'gzip', gunzipSync],
      ['deflate', 'deflate', inflateSync],
      ['gzip;q=0, deflate', 'deflate', inflateSync],
      ['deflate;q=0.5, gzip;q=0.8', 'gzip', gunzipSync],
      ['*', 'gzip', gunzipSync],
      ['br', undefined, (b) => b],
      ['identity', undefined, (b) => b],
      ['gzip;q=0, deflate;q=0', undefined, (b) => b],
    ];
    for (const [accept, coding, decode] of cases) {
      const r = await send(accept);
      expect([accept, r.status, r.headers['content-encoding']]).toEqual([accept, 200, coding]);
      expect(r.headers.vary).toMatch(/accept-encoding/i);
      expect(Number(r.headers['content-length'])).toBe(r.body.length);
      if (coding) expect(r.body.length).toBeLessThan(plain.body.length);
      expect(JSON.parse(decode(r.body).toString('utf8'))).toEqual(JSON.parse(plain.body.toString('utf8')));
    }
  });

  it('leaves answers under 1 KiB alone', async () => {
    const r = await rawRequest(srv.base, { path: '/v2/models/mlp-demo', headers: { authorization: `Bearer ${alice.secret}`, 'accept-encoding': 'gzip' } });
    expect(r.body.length).toBeLessThan(1024);
    expect([r.status, r.headers['content-encoding'], r.headers.vary]).toEqual([200, undefined, 'Accept-Encoding']);
    expect(JSON.parse(r.body.toString()).name).toBe('mlp-demo');
  });

  it("compresses binary answers as Triton's client reads them (header length = the decoded JSON part)", async () => {
    const values = randomFloats(prng(8), 32 * 64);
    const raw = Buffer.from(Float32Array.from(values).buffer);
    const input = [{ name: 'input', shape: [32, 64], datatype: 'FP32', raw }];
    const plain = new TritonResult(await tritonInfer(srv.base, 'mlp-demo', input, undefined, { key: alice.secret }));
    for (const responseCompression of ['gzip', 'deflate'] as const) {
      const reply = await tritonInfer(srv.base, 'mlp-demo', input, undefined, { key: alice.secret, requestCompression: 'gzip', responseCompression });
      expect(reply.headers['content-encoding']).toBe(responseCompression);
      expect(new TritonResult(reply).asArray('output')).toEqual(plain.asArray('output'));
    }
    // Errors reach the client's exception with their text.
    const bad = await tritonInfer(srv.base, 'mlp-demo', [{ name: 'input', shape: [32, 65], datatype: 'FP32', raw }], undefined, { key: alice.secret, requestCompression: 'gzip' });
    expect(bad.status).toBe(400);
    expect(tritonError(bad)).toMatch(/shape/);
  });
});

describe('decodeBody (the streaming decoder itself)', () => {
  it('stops pulling and inflating a bomb once the decoded limit is passed', async () => {
    const member = gzipSync(Buffer.alloc(1024 * 1024));
    let pulled = 0;
    const source = new Readable({
      read() {
        this.push(pulled++ < 2000 ? member : null);
      },
    });
    const out = decodeBody(source, 'gzip', 4 * 1024 * 1024);
    const err = await new Promise<unknown>((resolve) => {
      out.on('error', resolve);
      out.on('end', () => resolve(null));
      out.resume();
    });
    expect(err).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    await new Promise((r) => setTimeout(r, 50));
    // 2000 members were on offer (2 GiB decoded); a handful were read before the stop.
    expect(pulled).toBeLessThan(64);
    expect(out.receivedEncodedLength).toBeLessThan(64 * member.length);
  });
});
