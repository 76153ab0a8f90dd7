#!/usr/bin/env node
/**
 * GraphQL API read latency versus the same ClickHouse query issued directly.
 *   npm run build && node bench/graphql-api.mjs            (BENCH_ITERATIONS=200, BENCH_FRESH=1 to regenerate)
 *
 * Data: 10M usage events across 100 tenants over 30 days, generated server-side with
 * INSERT ... SELECT FROM numbers() into usage_events_v1 of its own ClickHouse database
 * (tollgate_bench_graphql; the materialized views fill the rollups) — kept between runs unless
 * BENCH_FRESH=1. One of the tenants exists in Postgres (database tollgate_bench_graphql) on the
 * graduated `pro` plan. Measured for that tenant over the 30 days, sequentially, after warm-up:
 *   usage(granularity: HOUR|DAY, groupBy: MODEL)  vs  the same usageSeries SQL via the ClickHouse client
 *   costAttribution(groupBy: MODEL)           vs  the same billable-usage read (src/billing billableRows)
 * The API numbers include HTTP (fetch in this process), auth (API key), Postgres reads (plan,
 * prices) and pricing. Aim: API p50 <= 1.3 x direct p50 + 5 ms, API p95 <= 50 ms.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes, randomUUID } from 'node:crypto';

// Production mode, as deployed: graphql-js picks its cheap instanceof checks at import time.
process.env.NODE_ENV ??= 'production';
const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const [{ loadConfig }, db, ch, sqlMod, redisMod, loggerMod, tenants, keys, api, data, billing] = await Promise.all([
  imp('src/config/index.js'),
  imp('src/db/index.js'),
  imp('src/clickhouse/client.js'),
  imp('src/clickhouse/sql.js'),
  imp('src/shared/redis.js'),
  imp('src/shared/logger.js'),
  imp('src/tenants/index.js'),
  imp('src/keys/index.js'),
  imp('graphql/src/index.js'),
  imp('graphql/src/data/clickhouse.js'),
  imp('src/billing/index.js'),
]);
const { migrateClickHouse } = await imp('src/clickhouse/migrate.js');
const { sql } = sqlMod;

const EVENTS = 10_000_000;
const TENANTS = 100;
const DAYS = 30;
const ITER = Number(process.env.BENCH_ITERATIONS ?? 200);
const NAME = 'tollgate_bench_graphql';
const started = performance.now();

const pgUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tollgate');
pgUrl.pathname = `/${NAME}`;
const config = loadConfig({
  ...process.env,
  NODE_ENV: 'production',
  LOG_LEVEL: 'silent',
  DATABASE_URL: pgUrl.toString(),
  CLICKHOUSE_DATABASE: NAME,
  REDIS_PREFIX: `${NAME}:${process.pid}`,
  GRAPHQL_RATE_LIMIT_PER_SECOND: '100000',
  GRAPHQL_RATE_LIMIT_BURST: '100000',
  // Production needs a strong JWT secret and a metrics token (src/config/secrets.ts); the bench uses API keys.
  JWT_SECRET: randomBytes(32).toString('base64url'),
  METRICS_TOKEN: randomBytes(32).toString('base64url'),
  // Generation statements run long on a busy machine; reads keep their own per-query limits.
  CLICKHOUSE_MAX_EXECUTION_TIME: '900',
});

await db.migratePostgres({ config });
await migrateClickHouse({ config });
const pools = db.createPgPools(config, { applicationName: 'bench-graphql' });
const clickhouse = ch.createClickHouse(config);
const redis = redisMod.createRedis(config);

// 30 whole days ending at the last full hour.
const end = Math.floor(Date.now() / 3_600_000) * 3_600_000;
const start = end - DAYS * 86_400_000;

// The measured tenant lives in Postgres; its id is stored with the generated data so reruns reuse both.
let tenantId;
const meta = await clickhouse.query(sql`SELECT tenant_id, count() AS n, toUnixTimestamp(min(ts)) AS lo FROM usage_events_v1 WHERE batch_id = 'bench-main' GROUP BY tenant_id`);
const total = await clickhouse.query(sql`SELECT count() AS n FROM usage_events_v1`);
// Regenerate when asked, or when a previous generation did not finish.
const fresh = process.env.BENCH_FRESH === '1' || meta.length !== 1 || Number(total[0].n) !== EVENTS;
let dataStart = start;
if (fresh) {
  await clickhouse.exec(sql`TRUNCATE TABLE usage_events_v1`);
  const rollups = ['usage_minute_v1', 'usage_hourly_v1', 'usage_daily_v1', 'usage_tags_hourly_v1'];
  for (const t of rollups) await clickhouse.exec(sql`TRUNCATE TABLE ${sqlMod.ident(t, rollups)}`);
  // In this bench database only: drop the views neither measured query reads (minute sums, latency
  // quantile states), so generating 10M events costs the hourly/daily/tag rollups alone.
  const unused = ['usage_minute_mv_v1', 'usage_latency_minute_mv_v1', 'usage_latency_hourly_mv_v1', 'usage_latency_daily_mv_v1'];
  for (const v of unused) await clickhouse.exec(sql`DROP TABLE IF EXISTS ${sqlMod.ident(v, unused)}`);
  const t = await tenants.createTenant({ pools }, { name: `bench-${Date.now().toString(36)}`, plan: 'pro' });
  tenantId = t.id;
  await db.withPlatform(pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2020-01-01T00:00:00Z' WHERE tenant_id = $1`, [tenantId]));
  const ids = [tenantId, ...Array.from({ length: TENANTS - 1 }, () => randomUUID())];
  const t0 = performance.now();
  const chunk = 1_000_000;
  for (let off = 0; off < EVENTS; off += chunk) {
    // Event n: tenant n % 100 (the measured tenant is 'bench-main'), spread evenly over the 30 days.
    await clickhouse.exec(
      sql`INSERT INTO usage_events_v1 (event_id, batch_id, tenant_id, api_key_id, request_id, model, model_version, ts, ts_ms, status, http_status,
          items, input_bytes, output_bytes, queue_us, compute_us, billed_compute_us, batch_size, device, tag_keys, tag_values, trace_id)
        SELECT toString(number), if(number % ${TENANTS} = 0, 'bench-main', 'bench'), ${ids}[number % ${TENANTS} + 1], concat('key-', toString(number % 7)), toString(number),
          concat('model-', toString(intHash32(number) % 5)), '1', toDateTime(${Math.floor(start / 1000)} + intDiv(number * ${DAYS * 86400}, ${EVENTS})),
          (${Math.floor(start / 1000)} + intDiv(number * ${DAYS * 86400}, ${EVENTS})) * 1000,
          if(number % 50 = 0, 'error', 'ok'), if(number % 50 = 0, 500, 200), 1 + number % 4, 200 + number % 1000, 50 + number % 100, 20,
          500 + number % 3000, 500 + number % 3000, 1, if(number % 10 = 0, 'cuda', 'cpu'), ['team'], [concat('team-', toString(number % 3))], ''
        FROM numbers(${off + chunk}) WHERE number >= ${off}`,
      { settings: { max_execution_time: 900 } },
    );
    process.stdout.write(`\rgenerated ${((off + chunk) / 1e6).toFixed(0)}M events (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  console.log('');
} else {
  tenantId = meta[0].tenant_id;
  dataStart = Number(meta[0].lo) * 1000;
}
const dataEnd = dataStart + DAYS * 86_400_000;
// Price the measured tenant on `starter` (package + standard charges beyond included usage), so costs are non-zero.
await db.withPlatform(pools.app, (c) => c.query(`UPDATE tenant_plans SET plan_id = (SELECT id FROM plans WHERE code = 'starter') WHERE tenant_id = $1`, [tenantId]));
const counts = await clickhouse.query(sql`SELECT count() AS n, uniqExact(tenant_id) AS t FROM usage_events_v1`);
console.log(`data: ${counts[0].n} events, ${counts[0].t} tenants; measured tenant ${tenantId} (${EVENTS / TENANTS} events over ${DAYS} days)`);

const key = await keys.createApiKey({ pools, config }, { tenantId, role: 'finance', name: 'bench' });
const authenticator = keys.createApiKeyAuthenticator({ pools, redis, config });
const server = await api.createApiServer({ config, logger: loggerMod.createLogger({ level: 'silent' }), pools, clickhouse, redis, authenticate: (s) => authenticator.authenticate(s) });
const url = await server.listen(0, '127.0.0.1');

const from = new Date(dataStart);
const to = new Date(dataEnd);
const range = { from: from.toISOString(), to: to.toISOString() };
const usageDoc = `query($r: TimeRangeInput!) { usage(range: $r, granularity: HOUR, groupBy: MODEL) { series { key points { bucket requests errorRequests servedItems inputBytes outputBytes computeUs } } } }`;
const usageColumnsDoc = `query($r: TimeRangeInput!) { usage(range: $r, granularity: HOUR, groupBy: MODEL) { series { key columns { buckets requests errorRequests servedItems inputBytes outputBytes computeUs } } } }`;
const usageDayDoc = usageDoc.replace('granularity: HOUR', 'granularity: DAY');
const costDoc = `query($r: TimeRangeInput!) { costAttribution(range: $r, groupBy: MODEL) { totalMicros meters { meter quantity costMicros } slices { key costMicros meters { meter quantity costMicros } } } }`;

async function viaApi(doc) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}` }, body: JSON.stringify({ query: doc, variables: { r: range } }) });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const cases = [
  // Direct = the resolver's exact SQL through the same client, rows as the client returns them (no conversion).
  { name: 'usage HOUR by MODEL, 30 d', api: () => viaApi(usageDoc), direct: () => clickhouse.query(data.usageSeriesSql({ tenantId, from, to, granularity: 'HOUR', groupBy: 'MODEL' })) },
  { name: 'usage HOUR by MODEL, columns', api: () => viaApi(usageColumnsDoc), direct: () => clickhouse.query(data.usageSeriesSql({ tenantId, from, to, granularity: 'HOUR', groupBy: 'MODEL' })) },
  { name: 'usage DAY by MODEL, 30 d', api: () => viaApi(usageDayDoc), direct: () => clickhouse.query(data.usageSeriesSql({ tenantId, from, to, granularity: 'DAY', groupBy: 'MODEL' })) },
  { name: 'costAttribution by MODEL, 30 d', api: () => viaApi(costDoc), direct: () => billing.billableRows(clickhouse, { tenantId, from, to, groupBy: 'MODEL' }) },
];

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
async function time(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const sample = await viaApi(costDoc);
console.log(`check: costAttribution total ${sample.costAttribution.totalMicros} micros, ${sample.costAttribution.slices.length} slices; usage points ${(await viaApi(usageDoc)).usage.series.reduce((a, s) => a + s.points.length, 0)}`);
console.log(`iterations: ${ITER} per variant (interleaved), after 20 warm-up`);
console.log('query                            | direct p50 | direct p95 |  API p50 |  API p95 | p50 ratio | target p50 (1.3x+5ms) | verdict');
for (const c of cases) {
  for (let i = 0; i < 20; i++) {
    await c.direct();
    await c.api();
  }
  const d = [];
  const a = [];
  for (let i = 0; i < ITER; i++) {
    d.push(await time(c.direct));
    a.push(await time(c.api));
  }
  const [d50, d95, a50, a95] = [pct(d, 50), pct(d, 95), pct(a, 50), pct(a, 95)];
  const target = 1.3 * d50 + 5;
  const verdict = `p50 ${a50 <= target ? 'met' : 'missed'}, p95<=50 ${a95 <= 50 ? 'met' : 'missed'}`;
  console.log(
    `${c.name.padEnd(32)} | ${d50.toFixed(2).padStart(7)} ms | ${d95.toFixed(2).padStart(7)} ms | ${a50.toFixed(2).padStart(5)} ms | ${a95.toFixed(2).padStart(5)} ms | ${(a50 / d50).toFixed(2).padStart(8)}x | ${target.toFixed(2).padStart(18)} ms | ${verdict}`,
  );
}

await server.close();
await authenticator.close();
await clickhouse.close();
redis.disconnect();
await pools.close();
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
