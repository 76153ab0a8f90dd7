#!/usr/bin/env node
/**
 * Compute-bound efficiency on mlp-large (512 -> 1024 -> 1024 -> 16): items/s served over HTTP
 * (binary tensors, BENCH_ITEMS (default 64) items per request, BENCH_CONCURRENCY (default 8) clients, dynamic batching
 * up to 64) versus raw in-process onnxruntime-node at its best batch size, both with ONE session
 * of intraOpNumThreads=1 (served: INFERENCE_WORKERS=1, worker nice 0 like the raw loop).
 * Raw and served alternate in BENCH_ROUNDS short rounds so drifting background load hits both.
 * Aim: served / raw >= 0.85. Also prints the worker's utilization (share of its own compute rate,
 * at the session.run speed it saw, that reached clients) to separate overhead from CPU starvation.
 *   npm run build && node scripts/prepare-models.mjs && node bench/inference-compute.mjs
 */
import path from 'node:path';
import ort from 'onnxruntime-node';
import { binaryRequest, fmt, root, runLoad, startInference } from './inference-lib.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 9);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const items = Number(process.env.BENCH_ITEMS ?? 64);
const file = path.join(root, 'inference/models/mlp-large/1/model.onnx');

const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const tensor = (batch) => new ort.Tensor('float32', new Float32Array(batch * 512).map((_, i) => Math.sin(i)), [batch, 512]);

async function rawRate(batch, ms) {
  const x = tensor(batch);
  for (let i = 0; i < 3; i++) await session.run({ input: x });
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    await session.run({ input: x });
    n += batch;
  }
  return n / ((performance.now() - t0) / 1000);
}

console.log(`inference-compute: mlp-large, ${items} items/request, ${rounds} alternating rounds of ${fmt(seconds / rounds, 1)}s`);
let best = { batch: 1, ips: 0 };
for (const batch of [1, 8, 16, 32, 64]) {
  const ips = await rawRate(batch, 600);
  console.log(`  raw calibration, batch ${String(batch).padStart(2)}: ${fmt(ips)} items/s`);
  if (ips > best.ips) best = { batch, ips };
}

const srv = await startInference({ models: ['mlp-large'], env: { INFERENCE_WORKERS: '1', INFERENCE_INTRA_OP_THREADS: '1', INFERENCE_WORKER_NICE: '0' } });
const x = new Float32Array(items * 512).map((_, i) => Math.cos(i));
const req = binaryRequest(
  'mlp-large',
  { inputs: [{ name: 'input', datatype: 'FP32', shape: [items, 512], parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } },
  [new Uint8Array(x.buffer)],
);
const metric = async () => {
  const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
  const val = (name) => Number(new RegExp(`^${name}\\{[^}]*model="mlp-large"[^}]*\\} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  return { batches: val('tollgate_inference_exec_count_total'), items: val('tollgate_inference_count_total'), runS: val('tollgate_inference_compute_duration_seconds_sum') };
};

let rawSum = 0;
let servedSum = 0;
let utilSum = 0;
for (let r = 0; r < rounds; r++) {
  const raw = await rawRate(best.batch, (seconds / rounds) * 1000);
  const m0 = await metric();
  const s = await runLoad({ port: srv.port, request: req, concurrency: Number(process.env.BENCH_CONCURRENCY ?? 8), seconds: seconds / rounds, warmupSeconds: 0.5 });
  const m1 = await metric();
  const served = s.rps * items;
  const runMsPerItem = ((m1.runS - m0.runS) * 1000) / Math.max(1, m1.items - m0.items);
  const utilization = served / (1000 / runMsPerItem);
  if (s.errors) console.log(`  non-200 answers: ${s.errors} (${s.firstError})`);
  console.log(`  round ${r + 1}: raw ${fmt(raw)} items/s (batch ${best.batch}), served ${fmt(served)} items/s, ratio ${fmt(served / raw, 2)}; worker session.run ${fmt(runMsPerItem * 64, 2)} ms per 64 items, utilization ${fmt(utilization, 2)}`);
  rawSum += raw;
  servedSum += served;
  utilSum += utilization;
}
await srv.close();
await session.release();
console.log(`RESULT served/raw=${fmt(servedSum / rawSum, 2)} (aim >= 0.85); raw ${fmt(rawSum / rounds)} items/s at batch ${best.batch}, served ${fmt(servedSum / rounds)} items/s; worker utilization ${fmt(utilSum / rounds, 2)}`);
