#!/usr/bin/env node
/**
 * Compute-bound efficiency on mlp-large (512 -> 1024 -> 1024 -> 16): items/s served over HTTP
 * (binary tensors, BENCH_ITEMS (default 64) items per request, concurrency 4, dynamic batching up to 64) versus raw in-process
 * onnxruntime-node at its best batch size, both with one session of intraOpNumThreads=1.
 * Aim: served / raw >= 0.85. Also prints the default 2-worker pool for reference.
 *   npm run build && node scripts/prepare-models.mjs && node bench/inference-compute.mjs
 */
import path from 'node:path';
import ort from 'onnxruntime-node';
import { binaryRequest, fmt, root, runLoad, startInference } from './inference-lib.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const file = path.join(root, 'inference/models/mlp-large/1/model.onnx');

async function raw() {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  let best = { batch: 0, ips: 0 };
  for (const batch of [1, 8, 16, 32, 64]) {
    const x = new ort.Tensor('float32', new Float32Array(batch * 512).map((_, i) => Math.sin(i)), [batch, 512]);
    for (let i = 0; i < 3; i++) await session.run({ input: x });
    let items = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < (seconds * 1000) / 4) {
      await session.run({ input: x });
      items += batch;
    }
    const ips = items / ((performance.now() - t0) / 1000);
    console.log(`  raw batch ${String(batch).padStart(2)}: ${fmt(ips)} items/s`);
    if (ips > best.ips) best = { batch, ips };
  }
  await session.release();
  return best;
}

async function served(workers, concurrency, items) {
  // nice 0 like the raw baseline: this measures compute efficiency, not event-loop latency.
  const srv = await startInference({ models: ['mlp-large'], env: { INFERENCE_WORKERS: String(workers), INFERENCE_INTRA_OP_THREADS: '1', INFERENCE_WORKER_NICE: '0' } });
  const x = new Float32Array(items * 512).map((_, i) => Math.cos(i));
  const req = binaryRequest(
    'mlp-large',
    { inputs: [{ name: 'input', datatype: 'FP32', shape: [items, 512], parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } },
    [new Uint8Array(x.buffer)],
  );
  const r = await runLoad({ port: srv.port, request: req, concurrency, seconds });
  const metrics = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
  const val = (name) => Number(new RegExp(`^${name}\\{[^}]*model="mlp-large"[^}]*\\} (\\S+)`, 'm').exec(metrics)?.[1] ?? NaN);
  const batches = val('tollgate_inference_exec_count_total');
  const avgBatch = val('tollgate_inference_count_total') / batches;
  const avgRunMs = (val('tollgate_inference_compute_duration_seconds_sum') / batches) * 1000;
  console.log(`  (${workers} worker(s): ${batches} batches, average batch ${fmt(avgBatch, 1)} items, average session.run ${fmt(avgRunMs, 2)} ms)`);
  await srv.close();
  if (r.errors) console.log(`  non-200 answers: ${r.errors} (${r.firstError})`);
  // Share of the workers' own compute rate (at the session.run speed they saw) that reached clients.
  const capacity = (workers * avgBatch) / (avgRunMs / 1000);
  return { ips: r.rps * items, utilization: (r.rps * items) / capacity };
}

console.log(`inference-compute: mlp-large, ${seconds}s per point`);
const best = await raw();
const items = Number(process.env.BENCH_ITEMS ?? 64);
const one = await served(1, 4, items);
console.log(`  served, 1 worker x 1 thread (${items} items/request, concurrency 4): ${fmt(one.ips)} items/s; worker utilization ${fmt(one.utilization, 2)}`);
const two = await served(2, 4, items);
console.log(`  served, 2 workers x 1 thread (default pool): ${fmt(two.ips)} items/s; worker utilization ${fmt(two.utilization, 2)}`);
console.log(
  `RESULT raw best=${fmt(best.ips)} items/s at batch ${best.batch}; served(1 worker)/raw=${fmt(one.ips / best.ips, 2)} (aim >= 0.85); served(2 workers)/raw=${fmt(two.ips / best.ips, 2)}; ` +
    `serving overhead: 1 worker busy ${fmt(one.utilization * 100)}% of the time`,
);
