#!/usr/bin/env node
/**
 * HTTP path overhead: the full /infer path on mlp-demo (auth, validation, admission, batcher,
 * worker thread, usage record, span, metrics) versus a bare JSON echo route on the same fastify
 * instance with the same payload, at concurrency 1, 16 and 64.
 *   npm run build && node scripts/prepare-models.mjs && node bench/inference-http.mjs
 * Prints requests/s per route, their ratio (aim >= 0.6 at 64) and the added p50 latency at 1 (aim <= 1 ms).
 * BENCH_SECONDS (default 6) per point, split into BENCH_ROUNDS (default 3) alternating echo/infer rounds.
 */
import { fmt, jsonRequest, runLoad, startInference } from './inference-lib.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const inputs = [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: Array.from({ length: 64 }, (_, i) => Math.fround(Math.sin(i))) }];
const infer = jsonRequest('mlp-demo', inputs);
const echo = { ...infer, path: '/echo' };

const srv = await startInference({
  models: ['mlp-demo'],
  beforeListen(app) {
    // Same framework, same raw-body parser, same payload: parse the JSON and send it back.
    app.post('/echo', async (request, reply) => reply.type('application/json').send(JSON.stringify(JSON.parse(request.body.toString('utf8')))));
  },
});
console.log(`inference-http: mlp-demo 1x64 FP32 JSON, ${seconds}s per point, load generator in a separate process (node:http keep-alive)`);
console.log('conc | echo req/s | infer req/s | ratio | echo p50 ms | infer p50 ms | added p50 ms | infer p99 ms');
const rows = [];
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const concurrency of [1, 16, 64]) {
  // Alternate short rounds of echo and infer so drifting background load hits both alike.
  const es = [];
  const is = [];
  for (let r = 0; r < rounds; r++) {
    es.push(await runLoad({ port: srv.port, request: echo, concurrency, seconds: seconds / rounds, warmupSeconds: 0.5 }));
    is.push(await runLoad({ port: srv.port, request: infer, concurrency, seconds: seconds / rounds, warmupSeconds: 0.5 }));
  }
  const errs = [...es, ...is].reduce((n, x) => n + x.errors, 0);
  if (errs) console.log(`  non-200 answers: ${errs}`);
  const e = { rps: es.reduce((n, x) => n + x.rps, 0) / rounds, p50us: median(es.map((x) => x.p50us)) };
  const i = { rps: is.reduce((n, x) => n + x.rps, 0) / rounds, p50us: median(is.map((x) => x.p50us)), p99us: median(is.map((x) => x.p99us)) };
  const row = { concurrency, echoRps: e.rps, inferRps: i.rps, ratio: i.rps / e.rps, addedP50Ms: (i.p50us - e.p50us) / 1000 };
  rows.push(row);
  console.log(
    `${String(concurrency).padStart(4)} | ${fmt(e.rps).padStart(10)} | ${fmt(i.rps).padStart(11)} | ${fmt(row.ratio, 2).padStart(5)} | ${fmt(e.p50us / 1000, 3).padStart(11)} | ${fmt(i.p50us / 1000, 3).padStart(12)} | ${fmt(row.addedP50Ms, 3).padStart(12)} | ${fmt(i.p99us / 1000, 2).padStart(12)}`,
  );
}
const at64 = rows.find((r) => r.concurrency === 64);
const at1 = rows.find((r) => r.concurrency === 1);
console.log(`RESULT ratio@64=${fmt(at64.ratio, 2)} (aim >= 0.6)  added_p50@1=${fmt(at1.addedP50Ms, 3)} ms (aim <= 1)  usage records=${srv.usage.count}`);
await srv.close();
