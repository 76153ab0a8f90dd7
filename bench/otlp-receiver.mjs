#!/usr/bin/env node
// OTLP receiver throughput: spans/s from POST /v1/traces (protobuf, 512 spans per request like
// the SDK's batch processor, 4 concurrent senders) until every span is in otel_traces_v1, on a
// private ClickHouse database; the senders run in a separate process (bench/otlp-sender.mjs).
// Also runs the same with OTLP/JSON bodies.
//   node bench/otlp-receiver.mjs          (BENCH_SPANS per round, default 200000; 2 rounds per encoding)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { benchConfig, dropDatabase, fmt, load, root, transpile } from './usage-lib.mjs';

const TOTAL = Number(process.env.BENCH_SPANS ?? 200_000);
const PER_REQUEST = 512;
const SENDERS = 4;
transpile();
const { createLogger } = await load('src/shared/logger.js');
const { createClickHouse, sql } = await load('src/clickhouse/index.js');
const { createOtlpReceiver } = await load('otlp/src/index.js');

const token = randomBytes(24).toString('hex');
const config = await benchConfig({ OTLP_FLUSH_MAX_ROWS: '20000', OTLP_FLUSH_INTERVAL_MS: '200' });
async function run(encoding) {
  const clickhouse = createClickHouse(config);
  const receiver = createOtlpReceiver({ config, logger: createLogger({ level: 'silent' }), clickhouse, authenticate: async () => null, internalToken: token });
  const { port } = await receiver.listen(0, '127.0.0.1');
  const requests = Math.ceil(TOTAL / PER_REQUEST);
  const sender = spawn(process.execPath, [path.join(root, 'bench/otlp-sender.mjs')], {
    env: { ...process.env, URL: `http://127.0.0.1:${port}/v1/traces`, TOKEN: token, ENCODING: encoding, REQUESTS: String(requests), CONCURRENCY: String(SENDERS) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const waitFor = (re) => new Promise((resolve, reject) => {
    const check = () => { const m = re.exec(out); if (m) resolve(m); };
    sender.stdout.on('data', (d) => { out += d; check(); });
    sender.on('exit', (c) => reject(new Error(`sender exited ${c}: ${out}`)));
    check();
  });
  await waitFor(/READY/);
  const t = performance.now();
  sender.stdin.write('go\n');
  const [, spans, retried] = await waitFor(/DONE (\d+) (\d+)/);
  const accepted = performance.now();
  await receiver.flush();
  const s = (performance.now() - t) / 1000;
  await receiver.close();
  const [row] = await clickhouse.query(sql`SELECT count() AS n FROM otel_traces_v1 WHERE Timestamp >= toDateTime(${Math.floor(Date.now() / 1000) - 3600})`);
  await clickhouse.close();
  return { spans: Number(spans), rate: Number(spans) / s, acceptRate: Number(spans) / ((accepted - t) / 1000), retried: Number(retried), stored: Number(row.n) };
}

try {
  // Alternate encodings (two rounds each) so warm-up and background load hit both alike.
  const pbs = [];
  const jsons = [];
  for (let r = 0; r < 2; r++) {
    pbs.push(await run('protobuf'));
    jsons.push(await run('json'));
  }
  const show = (name, xs) => console.log(`OTLP ${name}: ${fmt(xs[0].spans)} spans per round, ${xs.map((x) => fmt(x.rate)).join(', ')} spans/s into ClickHouse (accepted at ${xs.map((x) => fmt(x.acceptRate)).join(', ')}/s; 503 retries ${xs.map((x) => x.retried).join(', ')})`);
  show('protobuf', pbs);
  show('JSON', jsons);
  console.log(`stored rows: ${fmt(jsons.at(-1).stored)} (expected ${fmt(2 * (pbs[0].spans + jsons[0].spans))})`);
  const best = (xs) => Math.max(...xs.map((x) => x.rate));
  console.log(`RATIO best protobuf spans/s / 25,000 target: ${(best(pbs) / 25_000).toFixed(2)}; JSON: ${(best(jsons) / 25_000).toFixed(2)}`);
} finally {
  await dropDatabase(config);
}
