#!/usr/bin/env node
// Inference throughput with metering + tracing ON (WAL sink with group commit + flusher to
// ClickHouse/Redis, sdk-node spans exported over OTLP/HTTP to a receiver process writing to
// ClickHouse) versus OFF (a no-op usage sink, no-op tracer), same model, same run, rounds
// alternated. Model mlp-demo (64->128->10, batch-1 requests, dynamic batching), 32 clients.
//   node bench/usage-inference.mjs         (BENCH_SECONDS per round, default 8; 3 alternating rounds each)
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ProxyTracerProvider } from '@opentelemetry/api';
import { benchConfig, dropDatabase, fmt, load, root, transpile } from './usage-lib.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
transpile();
const { createLogger } = await load('src/shared/logger.js');
const { createRedis } = await load('src/shared/redis.js');
const { createClickHouse } = await load('src/clickhouse/index.js');
const { createWalUsageSink } = await load('src/usage/index.js');
const { startTracing } = await load('src/telemetry/index.js');
const { allowAll } = await load('src/quotas/contract.js');
const { createInferenceServer } = await load('inference/src/index.js');

// A model repository with just mlp-demo (built by scripts/prepare-models.mjs).
const repo = mkdtempSync(path.join(tmpdir(), 'tollgate-bench-models-'));
const src = path.join(root, 'inference/models/mlp-demo');
mkdirSync(path.join(repo, 'mlp-demo/1'), { recursive: true });
symlinkSync(path.join(src, '1/model.onnx'), path.join(repo, 'mlp-demo/1/model.onnx'));
writeFileSync(path.join(repo, 'mlp-demo/config.json'), readFileSync(path.join(src, 'config.json')));

const token = randomBytes(24).toString('hex');
const stateDir = path.join(root, '.state/bench', randomUUID().slice(0, 8));
const config = await benchConfig({ TOLLGATE_MODEL_REPOSITORY: repo, INFERENCE_DEVICE: 'cpu', INFERENCE_REPOSITORY_POLL_MS: '0', INFERENCE_WORKERS: '1', OTLP_INTERNAL_TOKEN: token, USAGE_WAL_DIR: path.join(stateDir, 'wal'), OTEL_SDK_DISABLED: 'false', OTEL_SERVICE_NAME: 'tollgate-bench' });
const logger = createLogger({ level: 'silent' });
const tenantId = randomUUID();
const secret = `bench_${randomUUID()}`;
const principal = { keyId: randomUUID(), tenantId, role: 'member' };
const authenticate = async (s) => (s === secret ? principal : null);

const otlp = spawn(process.execPath, [path.join(root, 'bench/otlp-child.mjs')], { env: { ...process.env, ...Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v ?? '')])) }, stdio: ['ignore', 'pipe', 'inherit'] });
const otlpPort = await new Promise((resolve, reject) => {
  let out = '';
  otlp.stdout.on('data', (d) => {
    out += d;
    const m = /READY (\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  });
  otlp.on('exit', (c) => reject(new Error(`otlp child exited ${c}`)));
});

const tracing = startTracing({ config: { ...config, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}` }, logger });
const redis = createRedis(config);
const clickhouse = createClickHouse(config);
const walSink = createWalUsageSink({ config, logger, clickhouse, redis });
await walSink.start();
const noopSink = { record: async () => undefined, accepting: () => true };

const off = await createInferenceServer({ config, logger, authenticate, usageSink: noopSink, admission: allowAll, tracer: new ProxyTracerProvider().getTracer('off') });
// Diagnostics: BENCH_ON_METERING=0 or BENCH_ON_TRACING=0 turn one half off in the ON server.
const onSink = process.env.BENCH_ON_METERING === '0' ? noopSink : walSink;
const onTracer = process.env.BENCH_ON_TRACING === '0' ? new ProxyTracerProvider().getTracer('off') : tracing.tracer;
const on = await createInferenceServer({ config, logger, authenticate, usageSink: onSink, admission: allowAll, tracer: onTracer });
const offBase = `http://127.0.0.1:${(await off.listen(0, '127.0.0.1')).port}`;
const onBase = `http://127.0.0.1:${(await on.listen(0, '127.0.0.1')).port}`;

const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: Array.from({ length: 64 }, (_, i) => i / 64) }] });
async function round(base) {
  const end = Date.now() + SECONDS * 1000;
  let ok = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (Date.now() < end) {
      const res = await fetch(`${base}/v2/models/mlp-demo/infer`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body });
      await res.arrayBuffer();
      if (res.status === 200) ok++;
      else failed++;
    }
  }));
  return { rps: ok / SECONDS, failed };
}

try {
  await round(offBase); // warm-up (JIT, sessions), discarded
  const results = { off: [], on: [] };
  for (let r = 0; r < 3; r++) {
    results.off.push(await round(offBase));
    results.on.push(await round(onBase));
  }
  await walSink.flushNow();
  await tracing.forceFlush();
  const median = (xs) => xs.map((x) => x.rps).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`inference mlp-demo, ${CLIENTS} clients, ${SECONDS}s rounds`);
  console.log(`metering+tracing OFF: ${results.off.map((x) => fmt(x.rps)).join(', ')} req/s`);
  console.log(`metering+tracing ON:  ${results.on.map((x) => fmt(x.rps)).join(', ')} req/s (failures ${results.on.map((x) => x.failed).join(', ')})`);
  console.log(`usage rows flushed: ${fmt(walSink.stats().flusher?.inserted ?? 0)}`);
  console.log(`RATIO on/off (median of 3 alternating rounds each): ${(median(results.on) / median(results.off)).toFixed(2)}  (aim >= 0.9)`);
} finally {
  await on.close();
  await off.close();
  await walSink.stop();
  await tracing.shutdown();
  await clickhouse.close();
  redis.disconnect();
  otlp.kill('SIGTERM');
  await new Promise((r) => otlp.on('exit', r));
  await dropDatabase(config);
  rmSync(repo, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
}
