#!/usr/bin/env node
/**
 * Event-loop delay on the serving process while ocr-rec (PP-OCRv4 recognition, [1,3,48,320])
 * runs under load: perf_hooks.monitorEventLoopDelay in the server's process, load from a separate
 * process. Sessions run in worker threads, so the loop only does HTTP, parsing and encoding.
 * Two clients: binary tensors in and out (the efficient path; output is 40x6625 floats = 1 MB),
 * and JSON in / JSON out (the output then is ~5 MB of JSON text per request). Aim: p99 <= 20 ms.
 *   npm run build && node bench/inference-eventloop.mjs
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { binaryRequest, fmt, jsonRequest, runLoad, startInference } from './inference-lib.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
const srv = await startInference({ models: ['ocr-rec'] });
const n = 3 * 48 * 320;
const x = new Float32Array(n).map((_, i) => Math.fround(Math.sin(i / 7) * 0.5));
const binary = binaryRequest(
  'ocr-rec',
  { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 320], parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } },
  [new Uint8Array(x.buffer)],
);
const json = jsonRequest('ocr-rec', [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 320], data: Array.from(x) }]);

console.log(`inference-eventloop: ocr-rec [1,3,48,320], concurrency ${concurrency}, ${seconds}s per client, 2 workers x 1 thread`);
const results = {};
for (const [name, request] of [
  ['idle', null],
  ['binary', binary],
  ['json', json],
]) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let r = { rps: 0, p50us: NaN, p99us: NaN, errors: 0 };
  if (request) r = await runLoad({ port: srv.port, request, concurrency, seconds, warmupSeconds: 1 });
  else await new Promise((res) => setTimeout(res, 2000));
  h.disable();
  results[name] = { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  console.log(
    `  ${name.padEnd(6)}: loop delay p50 ${fmt(results[name].p50, 2)} ms, p99 ${fmt(results[name].p99, 2)} ms, max ${fmt(results[name].max, 1)} ms` +
      (request ? `; ${fmt(r.rps, 1)} req/s, request p50 ${fmt(r.p50us / 1000, 1)} ms, p99 ${fmt(r.p99us / 1000, 1)} ms, non-200 ${r.errors}` : ''),
  );
}
console.log(`RESULT event-loop p99 under ocr-rec load: binary ${fmt(results.binary.p99, 2)} ms, json ${fmt(results.json.p99, 2)} ms (aim <= 20)`);
await srv.close();
