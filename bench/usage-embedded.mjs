#!/usr/bin/env node
// The metering pipeline on the embedded current ClickHouse (CLICKHOUSE_URL=chdb:…) against the
// 18.16 server in the same run: records -> WAL -> flusher (Redis + ClickHouse dedup) -> usage_events_v1,
// with perf_hooks.monitorEventLoopDelay in this process the whole time (the flusher, the WAL and
// the engine share it, as in `tollgate serve`). The question: does the embedded engine stall the
// event loop while the flusher inserts? (chDB runs queries on libuv threads; each operation opens
// a session, ~2 ms, on the event loop.)
//   npm run build && node bench/usage-embedded.mjs     (BENCH_ROWS=20000 by default)
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { benchConfig, dropDatabase, fmt, load, root, transpile } from './usage-lib.mjs';

const N = Number(process.env.BENCH_ROWS ?? 20_000);
const CONCURRENCY = 64;
transpile();
const { createLogger } = await load('src/shared/logger.js');
const { createRedis } = await load('src/shared/redis.js');
const { createClickHouse } = await load('src/clickhouse/index.js');
const { createWalUsageSink } = await load('src/usage/index.js');
const logger = createLogger({ level: 'silent' });
const stateDir = path.join(root, '.state/bench', `embedded-${randomUUID().slice(0, 8)}`);

function records(tenantId) {
  const t0 = Date.now();
  return Array.from({ length: N }, (_, i) => ({
    eventId: `ev-${i}-${randomUUID()}`, requestId: `req-${i}`, tenantId, apiKeyId: '00000000-0000-4000-8000-00000000000a',
    model: `model-${i % 5}`, modelVersion: '1', ts: t0 + Math.floor(i / 50), status: 'ok', httpStatus: 200, items: 1 + (i % 8),
    inputBytes: 256, outputBytes: 40, queueUs: 100 + (i % 1000), computeUs: 900 + (i % 5000), batchSize: 16, billedComputeUs: 120 + (i % 700),
    device: 'cpu', traceId: '', tags: { env: 'bench' },
  }));
}

/** record() with CONCURRENCY in flight while the flusher runs every 200 ms, then drain; event-loop delay throughout. */
async function run(config, label) {
  const redis = createRedis(config);
  const clickhouse = createClickHouse(config);
  const sink = createWalUsageSink({ config: { ...config, USAGE_WAL_DIR: path.join(stateDir, `wal-${label}`), USAGE_FLUSH_INTERVAL_MS: 200 }, logger, clickhouse, redis });
  await sink.start();
  const recs = records(randomUUID());
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < recs.length) await sink.record(recs[next++]);
  }));
  await sink.flushNow();
  const s = (performance.now() - t) / 1000;
  h.disable();
  const st = sink.stats().flusher;
  await sink.stop();
  await clickhouse.close();
  redis.disconnect();
  return { rate: N / s, p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, batches: st?.batches };
}

const server = await benchConfig();
const embedded = await benchConfig({ CLICKHOUSE_URL: `chdb:${path.join(stateDir, 'chdb')}` });
try {
  console.log(`usage-embedded: ${fmt(N)} records, ${CONCURRENCY} in flight, flusher every 200 ms; server ${server.CLICKHOUSE_URL} vs ${embedded.CLICKHOUSE_URL}`);
  const out = {};
  for (const round of [0, 1]) {
    for (const [label, config] of [['server', server], ['embedded', embedded]]) {
      const r = await run(config, `${label}-${round}`);
      console.log(`  ${label.padEnd(8)} round ${round}: ${fmt(r.rate)} records/s confirmed, ${r.batches} batches; event-loop delay p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`);
      (out[label] ??= []).push(r);
    }
  }
  const best = (l, k, f) => f(...out[l].map((r) => r[k]));
  console.log(`RESULT usage-embedded: throughput embedded/server ${(best('embedded', 'rate', Math.max) / best('server', 'rate', Math.max)).toFixed(2)}; event-loop p99 embedded ${best('embedded', 'p99', Math.min).toFixed(1)} ms vs server ${best('server', 'p99', Math.min).toFixed(1)} ms, max ${best('embedded', 'max', Math.min).toFixed(1)} vs ${best('server', 'max', Math.min).toFixed(1)} ms`);
} finally {
  await dropDatabase(server);
  await dropDatabase(embedded).catch(() => undefined);
  await fsp.rm(stateDir, { recursive: true, force: true });
}
