#!/usr/bin/env node
// Noisy neighbour: tenant A floods a compute-heavy model at >= 5x the server's capacity while
// tenant B sends a steady 20% of capacity. Reports B's p50/p99 latency and throughput alone, under
// the flood with weighted fair queueing (quotas' fairQueueFactory), and under the flood with plain
// FIFO — all measured in the same run, through the real inference server, real admission (Redis)
// and real onnxruntime sessions. The model is built here: an MLP 16->2048->2048->4 (tiny requests,
// heavy compute), so the queue, not HTTP, is the bottleneck.
//   node bench/noisy-neighbour.mjs          (BENCH_PHASE_MS=6000 per phase)
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { dropRedisPrefix, generousLimits, load, root, transpile } from './noisy-neighbour-lib.mjs';

const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 6000);
// Both tenants send full-batch requests (32 items: the model's max batch), so B's requests cost the
// server what A's do and "20% of capacity" means 20% of the server's time.
const A_ITEMS = 32;
const ITEMS = 32;
const repo = path.join(root, '.state/bench-quotas-models');

function buildModel() {
  const require = createRequire(import.meta.url);
  const { onnx } = require('onnx-proto');
  let seed = 1234567;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const layers = [16, 2048, 2048, 4];
  const tensor = (name, dims, n, scale) => onnx.TensorProto.create({ name, dims, dataType: 1, rawData: Buffer.from(new Float32Array(Array.from({ length: n }, () => (rand() * 2 - 1) * scale)).buffer) });
  const vi = (name, dims) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  const initializer = [];
  const node = [];
  let x = 'input';
  for (let i = 0; i + 1 < layers.length; i++) {
    initializer.push(tensor(`W${i}`, [layers[i], layers[i + 1]], layers[i] * layers[i + 1], 1 / Math.sqrt(layers[i])), tensor(`B${i}`, [layers[i + 1]], layers[i + 1], 0.1));
    const last = i + 2 === layers.length;
    node.push(onnx.NodeProto.create({ opType: 'Gemm', input: [x, `W${i}`, `B${i}`], output: [last ? 'output' : `p${i}`] }));
    if (!last) node.push(onnx.NodeProto.create({ opType: 'Relu', input: [`p${i}`], output: [`h${i}`] }));
    x = last ? 'output' : `h${i}`;
  }
  const graph = onnx.GraphProto.create({ name: 'heavy', node, initializer, input: [vi('input', ['batch', 16])], output: [vi('output', ['batch', 4])] });
  const model = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph })).finish();
  mkdirSync(path.join(repo, 'mlp-heavy/1'), { recursive: true });
  writeFileSync(path.join(repo, 'mlp-heavy/1/model.onnx'), model);
  writeFileSync(
    path.join(repo, 'mlp-heavy/config.json'),
    JSON.stringify({
      platform: 'onnxruntime_onnx',
      max_batch_size: 32,
      inputs: [{ name: 'input', datatype: 'FP32', shape: [16] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [4] }],
      dynamic_batching: { max_queue_delay_microseconds: 1000, preferred_batch_size: [16, 32], idle_dispatch: true },
      instance_count: 2,
      visibility: 'shared',
      pricing: { meter: 'items' },
    }),
  );
}

transpile();
buildModel();
const { loadConfig } = await load('src/config/index.js');
const { createRedis } = await load('src/shared/redis.js');
const { createLogger } = await load('src/shared/logger.js');
const { createAdmission, fairQueueFactory } = await load('src/quotas/index.js');
const { createInferenceServer } = await load('inference/src/index.js');

const prefix = `tollgate_bench:${randomBytes(4).toString('hex')}`;
const config = loadConfig({
  ...process.env,
  REDIS_PREFIX: prefix,
  LOG_LEVEL: 'silent',
  TOLLGATE_MODEL_REPOSITORY: repo,
  INFERENCE_DEVICE: 'cpu',
  INFERENCE_REPOSITORY_POLL_MS: '0',
  INFERENCE_MAX_QUEUE: '256',
});
const logger = createLogger({ level: 'silent' });
const redis = createRedis(config);
const tenants = { a: randomUUID(), b: randomUUID() };
const principals = new Map([
  ['secret-a', { keyId: randomUUID(), tenantId: tenants.a, role: 'member' }],
  ['secret-b', { keyId: randomUUID(), tenantId: tenants.b, role: 'member' }],
]);
// Server-side view of B: time its requests waited in the model queue (what the queue policy decides).
let bQueueUs = [];
const sink = {
  record: async (r) => {
    if (r.tenantId === tenants.b && r.status === 'ok') bQueueUs.push(r.queueUs);
  },
  accepting: () => true,
};
function takeQueueStats() {
  const v = bQueueUs.sort((x, y) => x - y);
  bQueueUs = [];
  const pct = (p) => (v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))] / 1000 : NaN);
  return { p50: pct(0.5), p99: pct(0.99) };
}

async function withServer(queueFactory, fn) {
  const admission = createAdmission({ config, redis, pools: {}, logger, loadLimits: async ({ tenantId }) => generousLimits(tenantId, 2) });
  const server = await createInferenceServer({ config, logger, authenticate: async (s) => principals.get(s) ?? null, usageSink: sink, admission, queueFactory });
  const { port } = await server.listen(0, '127.0.0.1');
  try {
    return await fn(`http://127.0.0.1:${port}`);
  } finally {
    await server.close();
    await admission.close();
  }
}

function runLoad(cfg) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bench/noisy-neighbour-load.mjs'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`))));
  });
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const row = (name, b, a, q) =>
  console.log(`${name.padEnd(22)} B queue wait p50 ${fmt(q.p50).padStart(7)} ms p99 ${fmt(q.p99).padStart(7)} ms | end-to-end p50 ${fmt(b.p50).padStart(8)} ms  p99 ${fmt(b.p99).padStart(8)} ms  B ok ${fmt(b.throughput * ITEMS, 0).padStart(6)} items/s  B refused ${String(b.rejected).padStart(5)}${a ? `  A ok ${fmt(a.items / a.seconds, 0).padStart(6)} items/s  A refused ${a.rejected}` : ''}`);

const results = await withServer(fairQueueFactory, async (base) => {
  // Capacity: A alone, closed loop with plenty in flight (a first round warms up sessions and JIT).
  await runLoad({ base, durationMs: 2000, a: { secret: 'secret-a', items: A_ITEMS, mode: 'closed', concurrency: 16 }, b: null });
  const cap = await runLoad({ base, durationMs: 4000, a: { secret: 'secret-a', items: A_ITEMS, mode: 'closed', concurrency: 16 }, b: null });
  const capacity = cap.a.items / cap.a.seconds; // items/s
  const flood = { secret: 'secret-a', items: A_ITEMS, mode: 'open', ratePerSec: (5 * capacity) / A_ITEMS };
  // On two shared cores the flood's own HTTP handling takes CPU from inference: measure the
  // capacity the server keeps while flooded, and give B 20% of that (20% of the unloaded figure
  // would exceed B's fair half of what is left, and no queue policy could then keep B's latency).
  const flooded = await runLoad({ base, durationMs: 3000, a: flood, b: null });
  const floodedCapacity = flooded.a.items / flooded.a.seconds;
  const bRate = (0.2 * floodedCapacity) / ITEMS;
  console.log(`capacity ${fmt(capacity, 0)} items/s unloaded, ${fmt(floodedCapacity, 0)} items/s while flooded (mlp-heavy 16->2048->2048->4, 2 instances)`);
  console.log(`A floods ${fmt(5 * capacity, 0)} items/s (5x) in ${A_ITEMS}-item requests; B sends ${fmt(bRate, 1)} req/s of ${ITEMS} items (20% of the flooded capacity)\n`);
  takeQueueStats();
  const solo = await runLoad({ base, durationMs: PHASE_MS, a: { mode: 'off', items: 1 }, b: { secret: 'secret-b', items: ITEMS, ratePerSec: bRate, startAfterMs: 0 } });
  solo.queue = takeQueueStats();
  return { capacity, bRate, flood, solo };
});
// Each flood runs on a fresh server (same config) so neither inherits the other's backlog.
results.fair = await withServer(fairQueueFactory, (base) => runLoad({ base, durationMs: PHASE_MS + 1000, a: results.flood, b: { secret: 'secret-b', items: ITEMS, ratePerSec: results.bRate, startAfterMs: 1000 } }));
results.fair.queue = takeQueueStats();
// Plain FIFO: the inference server's default queue.
const fifo = await withServer(undefined, (base) => runLoad({ base, durationMs: PHASE_MS + 1000, a: results.flood, b: { secret: 'secret-b', items: ITEMS, ratePerSec: results.bRate, startAfterMs: 1000 } }));
fifo.queue = takeQueueStats();

row('B alone', results.solo.b, undefined, results.solo.queue);
row('flood + fair queueing', results.fair.b, results.fair.a, results.fair.queue);
row('flood + FIFO', fifo.b, fifo.a, fifo.queue);
if (process.env.BENCH_VERBOSE) console.log(JSON.stringify({ solo: results.solo, fair: results.fair, fifo }, null, 1));
console.log(`\nfair queueing: B end-to-end p99 ${fmt(results.fair.b.p99 / results.solo.b.p99, 2)}x solo (aim <= 1.5x), B queue-wait p99 ${fmt(results.fair.queue.p99, 1)} ms vs ${fmt(results.solo.queue.p99, 1)} ms solo, B throughput ${fmt(results.fair.b.throughput / results.solo.b.throughput, 2)}x solo`);
console.log(`FIFO:          B end-to-end p99 ${fmt(fifo.b.p99 / results.solo.b.p99, 2)}x solo, B queue-wait p99 ${fmt(fifo.queue.p99, 1)} ms, B throughput ${fmt(fifo.b.throughput / results.solo.b.throughput, 2)}x solo`);
await dropRedisPrefix(redis, prefix);
redis.disconnect();
