#!/usr/bin/env node
// Usage pipeline throughput: UsageRecords -> WAL (group commit, fsync) -> flusher (Redis +
// ClickHouse dedup, batch ids) -> usage_events_v1, against a raw @clickhouse/client insert of
// the same rows in the same run (same table, same materialized views). Also measures what the
// WAL's fsync costs: append throughput/latency with group commit vs one fsync per record.
//   node bench/usage-pipeline.mjs            (N=100000 rows; BENCH_ROWS to change)
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import { benchConfig, dropDatabase, fmt, load, percentile, root, transpile } from './usage-lib.mjs';

const N = Number(process.env.BENCH_ROWS ?? 100_000);
const CONCURRENCY = 256; // records in flight, like concurrent inference requests
transpile();
const { createLogger } = await load('src/shared/logger.js');
const { createRedis } = await load('src/shared/redis.js');
const { createClickHouse, tables, usageEventColumns } = await load('src/clickhouse/index.js');
const { createWalUsageSink, createUsageFlusher, toUsageRow, usageRecordSchema, Wal } = await load('src/usage/index.js');

const config = await benchConfig();
const logger = createLogger({ level: 'silent' });
const stateDir = path.join(root, '.state/bench', randomUUID().slice(0, 8));

function records(tenantId) {
  const t0 = Date.now();
  return Array.from({ length: N }, (_, i) => ({
    eventId: `ev-${i}-${randomUUID()}`,
    requestId: `req-${i}`,
    tenantId,
    apiKeyId: '00000000-0000-4000-8000-00000000000a',
    model: `model-${i % 5}`,
    modelVersion: '1',
    ts: t0 + Math.floor(i / 50),
    status: i % 97 === 0 ? 'error' : 'ok',
    httpStatus: i % 97 === 0 ? 500 : 200,
    items: 1 + (i % 8),
    inputBytes: 256 + (i % 100),
    outputBytes: 40,
    queueUs: 100 + (i % 1000),
    computeUs: 900 + (i % 5000),
    batchSize: 16,
    billedComputeUs: 120 + (i % 700),
    device: 'cpu',
    traceId: randomUUID().replaceAll('-', ''),
    tags: { team: `t${i % 3}`, env: 'bench' },
  }));
}

async function rawInsert() {
  const recs = records(randomUUID());
  const rows = recs.map((r) => toUsageRow(r, 'raw'));
  const client = createClient({ url: config.CLICKHOUSE_URL, database: config.CLICKHOUSE_DATABASE, username: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD });
  const t = performance.now();
  for (let i = 0; i < rows.length; i += config.USAGE_FLUSH_MAX_ROWS) {
    await client.insert({ table: tables.usageEvents, values: rows.slice(i, i + config.USAGE_FLUSH_MAX_ROWS), format: 'JSONEachRow', columns: [...usageEventColumns] });
  }
  const s = (performance.now() - t) / 1000;
  await client.close();
  return N / s;
}

async function pipeline(round) {
  const recs = records(randomUUID());
  const redis = createRedis(config);
  const clickhouse = createClickHouse(config);
  const sink = createWalUsageSink({ config: { ...config, USAGE_WAL_DIR: path.join(stateDir, `wal-${round}`) }, logger, clickhouse, redis });
  await sink.start();
  const t = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < recs.length) await sink.record(recs[next++]);
  }));
  const appended = performance.now();
  await sink.flushNow();
  const s = (performance.now() - t) / 1000;
  const st = sink.stats();
  await sink.stop();
  await clickhouse.close();
  redis.disconnect();
  return { rate: N / s, appendRate: N / ((appended - t) / 1000), batches: st.flusher?.batches, f: st.flusher };
}

/** WAL -> ClickHouse only: the records are appended (validated, fsynced) first, then the flusher drains them. */
async function drain(round, mode) {
  const recs = records(randomUUID());
  const wal = await Wal.open({ dir: path.join(stateDir, `drain-${mode}-${round}`), syncIntervalMs: config.USAGE_WAL_SYNC_INTERVAL_MS, syncMaxRecords: config.USAGE_WAL_SYNC_MAX_RECORDS, maxBytes: 1 << 30 });
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < recs.length) await wal.append(Buffer.from(JSON.stringify(usageRecordSchema.parse(recs[next++]))));
  }));
  const redis = createRedis(config);
  const clickhouse = createClickHouse(config);
  const flusher = createUsageFlusher({ wal, clickhouse, redis, config: { ...config, USAGE_DEDUP_CHECK: mode }, logger });
  const t = performance.now();
  flusher.start();
  await flusher.flushNow();
  const s = (performance.now() - t) / 1000;
  const f = flusher.stats();
  await flusher.stop();
  await wal.close();
  await clickhouse.close();
  redis.disconnect();
  return { rate: N / s, f };
}

async function walCost() {
  const out = {};
  for (const [name, opts, n, conc] of [
    ['group commit (5 ms / 256)', { syncIntervalMs: config.USAGE_WAL_SYNC_INTERVAL_MS, syncMaxRecords: config.USAGE_WAL_SYNC_MAX_RECORDS }, 50_000, CONCURRENCY],
    ['fsync per record, sequential', { syncIntervalMs: 0, syncMaxRecords: 1 }, 500, 1],
  ]) {
    const dir = path.join(stateDir, `walcost-${name.length}`);
    const wal = await Wal.open({ dir, maxBytes: 1 << 30, ...opts });
    const payload = Buffer.from(JSON.stringify(records('00000000-0000-4000-8000-000000000001')[0]));
    const lat = [];
    let next = 0;
    const t = performance.now();
    await Promise.all(Array.from({ length: conc }, async () => {
      while (next++ < n) {
        const a = performance.now();
        await wal.append(payload);
        lat.push(performance.now() - a);
      }
    }));
    const s = (performance.now() - t) / 1000;
    lat.sort((a, b) => a - b);
    out[name] = { appendsPerSec: n / s, p50ms: percentile(lat, 0.5), p99ms: percentile(lat, 0.99), syncs: wal.stats().syncs };
    await wal.close();
  }
  return out;
}

try {
  console.log(`usage pipeline bench: ${fmt(N)} rows per run, ClickHouse ${config.CLICKHOUSE_URL} db ${config.CLICKHOUSE_DATABASE}`);
  const raw = [];
  const pipe = [];
  const drained = [];
  const drainedReplays = [];
  for (let round = 0; round < 2; round++) {
    raw.push(await rawInsert());
    drained.push(await drain(round, 'all'));
    drainedReplays.push(await drain(round, 'replays'));
    pipe.push(await pipeline(round));
  }
  const bestRaw = Math.max(...raw);
  console.log(`raw @clickhouse/client insert (batches of ${config.USAGE_FLUSH_MAX_ROWS}): ${raw.map(fmt).join(', ')} rows/s`);
  console.log(`WAL -> ClickHouse, USAGE_DEDUP_CHECK=all (flusher draining a filled WAL: dedup + insert + checkpoint): ${drained.map((p) => fmt(p.rate)).join(', ')} rows/s`);
  console.log(`WAL -> ClickHouse, USAGE_DEDUP_CHECK=replays: ${drainedReplays.map((p) => fmt(p.rate)).join(', ')} rows/s`);
  for (const p of [...drained, ...drainedReplays]) console.log(`  flusher time: parse ${fmt(p.f.readMs)} ms, dedup ${fmt(p.f.dedupMs)} ms (Redis ${fmt(p.f.redisMs)}, ClickHouse check ${fmt(p.f.checkMs)}), insert ${fmt(p.f.insertMs)} ms, ${p.f.batches} batches`);
  console.log(`end to end, record() with ${CONCURRENCY} in flight -> confirmed in ClickHouse: ${pipe.map((p) => fmt(p.rate)).join(', ')} rows/s (WAL appends alone ${pipe.map((p) => fmt(p.appendRate)).join(', ')}/s)`);
  console.log(`RATIO WAL->ClickHouse / raw (best of 2 each): dedup check all ${(Math.max(...drained.map((p) => p.rate)) / bestRaw).toFixed(2)}, replays only ${(Math.max(...drainedReplays.map((p) => p.rate)) / bestRaw).toFixed(2)}  (aim >= 0.8)`);
  console.log(`RATIO end-to-end / raw (best of 2 each): ${(Math.max(...pipe.map((p) => p.rate)) / bestRaw).toFixed(2)}`);
  const cost = await walCost();
  for (const [name, c] of Object.entries(cost)) {
    console.log(`WAL fsync cost, ${name}: ${fmt(c.appendsPerSec)} appends/s, p50 ${c.p50ms.toFixed(2)} ms, p99 ${c.p99ms.toFixed(2)} ms, ${c.syncs} fsyncs`);
  }
} finally {
  await dropDatabase(config);
  await fsp.rm(stateDir, { recursive: true, force: true });
}
