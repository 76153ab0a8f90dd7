/**
 * One tenant's bad input does not fail the requests batched with it: a batch that fails at run
 * time is rerun request by request, so only the bad one fails, with its own error text.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, infer, makeRepo, staticKeys, startServer, type Running } from './helpers.js';

const require = createRequire(import.meta.url);
const keys = staticKeys();
const alice = keys.add();
const bob = keys.add();
const repo = makeRepo([]);

/** out = table[idx] with table = [10, 20, 30, 40]: an index out of range fails in session.run (data-dependent). */
function writeGatherModel(dir: string): void {
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
  const T = onnx.TensorProto.DataType;
  const vi = (name: string, elemType: number) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 1 }] } } } });
  const graph = onnx.GraphProto.create({
    name: 'gather',
    node: [onnx.NodeProto.create({ opType: 'Gather', input: ['table', 'idx'], output: ['out'], name: 'g', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] })],
    initializer: [onnx.TensorProto.create({ name: 'table', dims: [4], dataType: T.FLOAT, floatData: [10, 20, 30, 40] })],
    input: [vi('idx', T.INT64)],
    output: [vi('out', T.FLOAT)],
  });
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph })).finish();
  const dst = path.join(dir, 'gather');
  mkdirSync(path.join(dst, '1'), { recursive: true });
  writeFileSync(path.join(dst, '1', 'model.onnx'), bytes);
  writeFileSync(
    path.join(dst, 'config.json'),
    JSON.stringify({
      max_batch_size: 8,
      instance_count: 1,
      inputs: [{ name: 'idx', datatype: 'INT64', shape: [1] }],
      outputs: [{ name: 'out', datatype: 'FP32', shape: [1] }],
      // Two requests sent together always leave as one batch.
      dynamic_batching: { max_queue_delay_microseconds: 5_000_000, preferred_batch_size: [2] },
    }),
  );
}
writeGatherModel(repo.dir);

let srv: Running;
beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

const request = (id: string, idx: number) => ({ id, inputs: [{ name: 'idx', datatype: 'INT64', shape: [1, 1], data: [idx] }] });
const metric = (text: string, name: string) => Number(new RegExp(`^${name}\\{model="gather",version="1"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);

describe('batch failure isolation', () => {
  it('serves the good request of a batch that failed on another tenant\'s input, and fails only the bad one with its own error', async () => {
    const before = (await get(srv.base, '/metrics')).raw.toString();
    const [good, bad] = await Promise.all([infer(srv.base, 'gather', request('good', 2), { key: alice.secret }), infer(srv.base, 'gather', request('bad', 7777), { key: bob.secret })]);
    expect(good.status).toBe(200);
    expect(good.json.outputs[0].data).toEqual([30]);
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^the model could not run on this input: /);
    expect(bad.json.error).toContain('7777');

    // They did share a batch first: one failed batch of 2, then one run each.
    const after = (await get(srv.base, '/metrics')).raw.toString();
    expect(metric(after, 'tollgate_inference_exec_count_total') - metric(before, 'tollgate_inference_exec_count_total')).toBe(3);
    expect(after).toMatch(/tollgate_inference_batch_size_bucket\{le="2",model="gather",version="1"\} [1-9]/);

    const recs = srv.sink.records.filter((r) => r.model === 'gather');
    expect(recs.find((r) => r.requestId === 'good')).toMatchObject({ status: 'ok', tenantId: alice.principal.tenantId, batchSize: 1 });
    expect(recs.find((r) => r.requestId === 'bad')).toMatchObject({ status: 'client_error', tenantId: bob.principal.tenantId });
  });

  it('never shows one tenant the error text of another tenant\'s input', async () => {
    const res = await Promise.all([
      infer(srv.base, 'gather', request('a', 9999), { key: alice.secret }),
      infer(srv.base, 'gather', request('b', 5555), { key: bob.secret }),
    ]);
    expect(res.map((r) => r.status)).toEqual([400, 400]);
    expect(res[0]!.json.error).toContain('9999');
    expect(res[0]!.json.error).not.toContain('5555');
    expect(res[1]!.json.error).toContain('5555');
    expect(res[1]!.json.error).not.toContain('9999');
  });
});
