// Shared set-up for the metering benchmarks (bench/usage-*.mjs, bench/otlp-*.mjs): transpiles
// src/, inference/src/ and otlp/src/ into .state/bench-dist (no type check) and imports from there, and
// creates a private, migrated ClickHouse database and Redis key prefix per run (both dropped at the
// end: a run writes up to a million keys, which must not outlive it and slow down everyone's Redis).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const root = path.resolve(import.meta.dirname, '..');
export const dist = path.join(root, '.state/bench-dist');

export function transpile() {
  execFileSync(process.execPath, [path.join(root, 'test/usage/fixtures/transpile.mjs'), dist], { stdio: ['ignore', 'ignore', 'inherit'] });
}

export const load = (p) => import(pathToFileURL(path.join(dist, p)).href);

/** Config for a private bench database and Redis prefix (env overrides apply), migrated. */
export async function benchConfig(overrides = {}) {
  const { loadConfig } = await load('src/config/index.js');
  const { migrateClickHouse } = await load('src/clickhouse/index.js');
  const run = randomBytes(4).toString('hex');
  const config = loadConfig({ ...process.env, CLICKHOUSE_DATABASE: `tollgate_bench_${run}`, REDIS_PREFIX: `tollgate_bench:${run}`, LOG_LEVEL: 'silent', ...overrides });
  await migrateClickHouse({ config });
  return config;
}

export async function dropDatabase(config) {
  const { createClickHouse, sql, ident } = await load('src/clickhouse/index.js');
  const admin = createClickHouse(config, { database: 'default' });
  await admin.exec(sql`DROP DATABASE IF EXISTS ${ident(config.CLICKHOUSE_DATABASE, [config.CLICKHOUSE_DATABASE])}`);
  await admin.close();
  await dropRedisKeys(config);
}

/** Deletes the run's Redis keys (SCAN + UNLINK in batches: never blocks Redis the way KEYS would). */
async function dropRedisKeys(config) {
  if (!config.REDIS_PREFIX.startsWith('tollgate_bench:')) return;
  const { createRedis } = await load('src/shared/redis.js');
  const redis = createRedis(config);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.REDIS_PREFIX}:*`, 'COUNT', 5000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export const fmt = (n) => Math.round(n).toLocaleString('en-US');
export function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0;
}
