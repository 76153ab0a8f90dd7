/**
 * Triton's classification extension against the real server: top-k "score:index[:label]" BYTES,
 * shape [batch, k] (or [k] unbatched), best first, in JSON and binary answers, labels from the
 * repository, and clear 400s for a bad k.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addModel, infer, makeRepo, mlpRequest, prng, randomFloats, staticKeys, startServer, writeIdentityModel, get, type Running } from './helpers.js';
import { TritonResult, tritonInfer } from './triton-client.js';

const keys = staticKeys();
const alice = keys.add();
const labels = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const repo = makeRepo(['mlp-demo', 'silero-vad', 'ocr-cls']);
writeIdentityModel(repo.dir, 'types');
addModel(repo.dir, { from: 'mlp-demo', as: 'mlp-labelled', config: { outputs: [{ name: 'output', datatype: 'FP32', shape: [10], label_filename: 'labels.txt' }] } });
writeFileSync(path.join(repo.dir, 'mlp-labelled', 'labels.txt'), `${labels.join('\n')}\n`);
// Broken label files: the model is not served rather than naming classes wrongly.
addModel(repo.dir, { from: 'mlp-demo', as: 'labels-short', config: { outputs: [{ name: 'output', datatype: 'FP32', shape: [10], label_filename: 'labels.txt' }] } });
writeFileSync(path.join(repo.dir, 'labels-short', 'labels.txt'), 'a\nb\n');
addModel(repo.dir, { from: 'mlp-demo', as: 'labels-missing', config: { outputs: [{ name: 'output', datatype: 'FP32', shape: [10], label_filename: 'nope.txt' }] } });
let srv: Running;

beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

/** The answer Triton gives, computed here from the raw scores: sort by score (desc), then index. */
function expectedTopK(values: number[], rows: number, k: number, names?: string[]): string[] {
  const per = values.length / rows;
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row = values.slice(r * per, (r + 1) * per);
    const order = row.map((_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b);
    for (const i of order.slice(0, k)) out.push(`${row[i]!.toFixed(6)}:${i}${names ? `:${names[i]}` : ''}`);
  }
  return out;
}

function withOutputs(req: Record<string, unknown>, outputs: unknown[]): Record<string, unknown> {
  return { ...req, outputs };
}

describe('top-k classes', () => {
  it('answers "score:index" BYTES of shape [batch, k], best first, equal to the raw scores sorted', async () => {
    const req = mlpRequest(prng(1), 3);
    const raw = await infer(srv.base, 'mlp-demo', req, { key: alice.secret });
    const scores = raw.json.outputs[0].data as number[];
    const res = await infer(srv.base, 'mlp-demo', withOutputs(req, [{ name: 'output', parameters: { classification: 3 } }]), { key: alice.secret });
    expect(res.status).toBe(200);
    expect(res.json.outputs).toEqual([{ name: 'output', datatype: 'BYTES', shape: [3, 3], data: expectedTopK(scores, 3, 3) }]);
    // Every class, in order.
    const all = await infer(srv.base, 'mlp-demo', withOutputs(req, [{ name: 'output', parameters: { classification: 10 } }]), { key: alice.secret });
    expect(all.json.outputs[0].data).toEqual(expectedTopK(scores, 3, 10));
  });

  it('appends the label from the output labels file, in JSON and in binary answers', async () => {
    const req = mlpRequest(prng(2), 2);
    const scores = (await infer(srv.base, 'mlp-labelled', req, { key: alice.secret })).json.outputs[0].data as number[];
    const json = await infer(srv.base, 'mlp-labelled', withOutputs(req, [{ name: 'output', parameters: { classification: 4 } }]), { key: alice.secret });
    expect(json.json.outputs[0]).toMatchObject({ datatype: 'BYTES', shape: [2, 4], data: expectedTopK(scores, 2, 4, labels) });
    // tritonclient: InferRequestedOutput('output', binary_data=True, class_count=4), gzip both ways.
    const rawInput = Buffer.from(Float32Array.from((req.inputs as { data: number[] }[])[0]!.data).buffer);
    const reply = await tritonInfer(srv.base, 'mlp-labelled', [{ name: 'input', shape: [2, 64], datatype: 'FP32', raw: rawInput }], [{ name: 'output', classCount: 4 }], {
      key: alice.secret,
      requestCompression: 'gzip',
      responseCompression: 'gzip',
    });
    expect(new TritonResult(reply).asArray('output')).toEqual({ shape: [2, 4], datatype: 'BYTES', values: expectedTopK(scores, 2, 4, labels) });
  });

  it("labels the shipped ocr-cls direction classifier's two classes", async () => {
    const res = await infer(srv.base, 'ocr-cls', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], data: randomFloats(prng(3), 3 * 48 * 192) }], outputs: [{ name: 'softmax_0.tmp_0', parameters: { classification: 2 } }] }, { key: alice.secret });
    expect([res.status, res.json.outputs[0].shape]).toEqual([200, [1, 2]]);
    const [best, second] = res.json.outputs[0].data as string[];
    expect([best, second].map((s) => s.split(':').slice(1).join(':')).sort()).toEqual(['0:0', '1:180']);
    expect(Number(best!.split(':')[0])).toBeGreaterThanOrEqual(Number(second!.split(':')[0]));
  });

  it('orders ties by index, prints integers as integers and floats with six decimals, NaN last', async () => {
    const body = {
      inputs: [
        ...['FP64', 'FP16', 'UINT8', 'INT8', 'INT64', 'BOOL', 'BYTES'].map((dt) => ({
          name: `in_${dt}`,
          datatype: dt,
          shape: [2, 3],
          data: dt === 'BOOL' ? [true, false, true, true, false, false] : dt === 'BYTES' ? ['a', 'b', 'c', 'd', 'e', 'f'] : dt === 'FP64' ? [1e300, -0.5, 2.25, 0, 0, 0] : [5, 7, 7, 1, 2, 3],
        })),
        { name: 'in_INT32', datatype: 'INT32', shape: [2, 3], data: [5, 7, 7, 1, 2, 3] },
      ],
      outputs: [
        { name: 'out_INT32', parameters: { classification: 3 } },
        { name: 'out_FP16', parameters: { classification: 1, binary_data: false } },
        { name: 'out_FP64', parameters: { classification: 2 } },
      ],
    };
    // The FP32 input goes as binary data so it can carry a NaN.
    const fp32 = Buffer.from(Float32Array.from([0.5, NaN, 0.25, -1, -1, 2]).buffer);
    const head = Buffer.from(JSON.stringify({ ...body, inputs: [...body.inputs, { name: 'in_FP32', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: fp32.length } }], outputs: [...body.outputs, { name: 'out_FP32', parameters: { classification: 3 } }] }));
    const res = await infer(srv.base, 'types', Buffer.concat([head, fp32]), { key: alice.secret, headers: { 'inference-header-content-length': String(head.length) } });
    expect(res.status).toBe(200);
    const out = Object.fromEntries((res.json.outputs as { name: string; data: string[] }[]).map((o) => [o.name, o.data]));
    expect(out.out_INT32).toEqual(['7:1', '7:2', '5:0', '3:2', '2:1', '1:0']);
    expect(out.out_FP16).toEqual(['7.000000:1', '3.000000:2']);
    expect(out.out_FP64).toEqual([`${BigInt(1e300)}.000000:0`, '2.250000:2', '0.000000:0', '0.000000:1']);
    expect(out.out_FP32).toEqual(['0.500000:0', '0.250000:2', 'nan:1', '2.000000:2', '-1.000000:0', '-1.000000:1']);
  });

  it('takes the whole tensor as one item for a model that does not batch, checking k against the real output', async () => {
    const body = {
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [1, 512], data: randomFloats(prng(4), 512) },
        { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: new Array(256).fill(0) },
        { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
      ],
    };
    const ok = await infer(srv.base, 'silero-vad', { ...body, outputs: [{ name: 'output', parameters: { classification: 1 } }, { name: 'stateN' }] }, { key: alice.secret });
    expect(ok.status).toBe(200);
    expect(ok.json.outputs[0]).toMatchObject({ name: 'output', datatype: 'BYTES', shape: [1] });
    expect(ok.json.outputs[0].data[0]).toMatch(/^\d\.\d{6}:0$/);
    expect(ok.json.outputs[1]).toMatchObject({ name: 'stateN', datatype: 'FP32', shape: [2, 1, 128] });
    const tooMany = await infer(srv.base, 'silero-vad', { ...body, outputs: [{ name: 'output', parameters: { classification: 2 } }] }, { key: alice.secret });
    expect([tooMany.status, tooMany.json]).toEqual([400, { error: 'output "output": classification 2 exceeds its 1 classes' }]);
  });
});

describe('bad classification requests', () => {
  it('refuses k that is not a positive integer up to the class count, and non-numeric outputs, before any work', async () => {
    const before = srv.sink.records.filter((r) => r.status === 'ok').length;
    const req = mlpRequest(prng(5), 1);
    const cases: [unknown, string][] = [
      [0, 'output "output": parameter classification must be a positive integer (the number of top classes), got 0'],
      [-2, 'got -2'],
      [1.5, 'got 1.5'],
      ['3', 'got "3"'],
      [true, 'got true'],
      [11, 'output "output": classification 11 exceeds its 10 classes'],
    ];
    for (const [k, message] of cases) {
      const r = await infer(srv.base, 'mlp-demo', withOutputs(req, [{ name: 'output', parameters: { classification: k } }]), { key: alice.secret });
      expect([k, r.status, r.headers.get('content-type')]).toEqual([k, 400, 'application/json']);
      expect(r.json.error).toContain(message);
    }
    const types = await infer(
      srv.base,
      'types',
      { inputs: ['FP32', 'FP64', 'FP16', 'INT32', 'INT64', 'UINT8', 'INT8'].map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [1, 3], data: [1, 2, 3] })).concat([{ name: 'in_BOOL', datatype: 'BOOL', shape: [1, 3], data: [true, false, true] as never }, { name: 'in_BYTES', datatype: 'BYTES', shape: [1, 3], data: ['a', 'b', 'c'] as never }]), outputs: [{ name: 'out_BYTES', parameters: { classification: 1 } }] },
      { key: alice.secret },
    );
    expect([types.status, types.json]).toEqual([400, { error: 'output "out_BYTES": classification needs a numeric output, this one is BYTES' }]);
    expect(srv.sink.records.filter((r) => r.status === 'ok').length).toBe(before);
  });

  it('does not serve a model whose labels file is missing or has the wrong number of lines', async () => {
    for (const model of ['labels-short', 'labels-missing']) expect((await get(srv.base, `/v2/models/${model}`, alice.secret)).status).toBe(404);
    expect((await get(srv.base, '/v2/models/mlp-labelled', alice.secret)).status).toBe(200);
  });
});
