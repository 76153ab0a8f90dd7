#!/usr/bin/env node
// Cost of the admission check per request (rate limit + concurrency + hard quotas on requests,
// items and compute, idempotency mark, RateLimit headers), against real Redis, compared in the
// same run with: allowAll (no admission at all) and a naive design that makes one Redis round
// trip (the token-bucket script) per request. Then the concurrent-burst path: a client pool's
// burst on a tenant with nothing leased yet (each limit's queued requests share one Redis call),
// against the common path (a lease in hand).
//   node bench/noisy-neighbour-admission.mjs        (BENCH_CALLS=100000 per phase; ~1 min)
import { randomBytes, randomUUID } from 'node:crypto';
import { dropRedisPrefix, generousLimits, load, percentile, transpile } from './noisy-neighbour-lib.mjs';

const N = Number(process.env.BENCH_CALLS ?? 100_000);
transpile();
const { loadConfig } = await load('src/config/index.js');
const { createRedis } = await load('src/shared/redis.js');
const { createLogger } = await load('src/shared/logger.js');
const { createAdmission, allowAll } = await load('src/quotas/index.js');
const { rateTake, runScript } = await load('src/quotas/scripts.js');

const prefix = `tollgate_bench:${randomBytes(4).toString('hex')}`;
const config = loadConfig({ ...process.env, REDIS_PREFIX: prefix, LOG_LEVEL: 'silent' });
const redis = createRedis(config);
const logger = createLogger({ level: 'silent' });

async function measure(name, admitOne, n = N) {
  for (let i = 0; i < Math.min(5000, n); i++) await admitOne(i); // warm-up: caches, leases, JIT
  const lat = new Float64Array(n);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    // Let the event loop turn now and then, as it does between requests in a server (Redis
    // replies, timers); not timed.
    if (i % 32 === 0) await new Promise(setImmediate);
    const s = process.hrtime.bigint();
    await admitOne(i);
    lat[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const sorted = Array.from(lat).sort((a, b) => a - b);
  const r = { name, calls: n, perSecond: n / wall, cpuUs: (cpu.user + cpu.system) / n, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999), max: sorted[sorted.length - 1] };
  console.log(`${name.padEnd(44)} ${String(Math.round(r.perSecond)).padStart(9)}/s  cpu ${r.cpuUs.toFixed(1).padStart(6)} µs/call  p50 ${r.p50.toFixed(1).padStart(7)} µs  p99 ${r.p99.toFixed(1).padStart(7)} µs  p99.9 ${r.p999.toFixed(1).padStart(8)} µs`);
  return r;
}

// Without a fingerprint (server-generated ids) admission marks the id in the background; with one
// (a client-chosen id) it waits for the batched Redis mark before admitting.
async function measureConcurrent(name, admitOne, n, inFlight) {
  let next = 0;
  const lat = new Float64Array(n);
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const s = process.hrtime.bigint();
      await admitOne(i);
      lat[i] = Number(process.hrtime.bigint() - s) / 1000;
    }
  };
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const sorted = Array.from(lat).sort((a, b) => a - b);
  const r = { name, calls: n, perSecond: n / wall, cpuUs: (cpu.user + cpu.system) / n, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999) };
  console.log(`${name.padEnd(44)} ${String(Math.round(r.perSecond)).padStart(9)}/s  cpu ${r.cpuUs.toFixed(1).padStart(6)} µs/call  p50 ${r.p50.toFixed(1).padStart(7)} µs  p99 ${r.p99.toFixed(1).padStart(7)} µs  p99.9 ${r.p999.toFixed(1).padStart(8)} µs  (latency includes waiting behind the other ${inFlight - 1})`);
  return r;
}

function admitter(admission, tenants, fingerprint = false) {
  const keyId = randomUUID();
  return async (i) => {
    const eventId = `e-${i}-${Math.random()}`;
    const d = await admission.admit({ tenantId: tenants[i % tenants.length], apiKeyId: keyId, model: 'm', items: 4, eventId, ...(fingerprint ? { fingerprint: `fp-${eventId}` } : {}) });
    if (!d.allowed) throw new Error(`refused: ${d.message}`);
    d.ticket.release({ computeUs: 250, items: 4, ok: true });
  };
}

console.log(`admission check cost, ${N} sequential calls per phase (after 5000 warm-up calls)\n`);
const base = await measure('allowAll (no admission)', admitter(allowAll, [randomUUID()]));

const one = [randomUUID()];
const limits = new Map();
const loadLimits = async ({ tenantId }) => limits.get(tenantId) ?? (limits.set(tenantId, generousLimits(tenantId)), limits.get(tenantId));
const a1 = createAdmission({ config, redis, pools: {}, logger, loadLimits });
const r1 = await measure('createAdmission, 1 tenant', admitter(a1, one));
await a1.close();

const many = Array.from({ length: 100 }, () => randomUUID());
const a2 = createAdmission({ config, redis, pools: {}, logger, loadLimits });
const r2 = await measure('createAdmission, 100 tenants round-robin', admitter(a2, many));
await a2.close();

// Client-chosen ids: sequential (one batched mark per call, so one round trip each) and with 64
// requests in flight (marks of one loop turn share a script call).
const a3 = createAdmission({ config, redis, pools: {}, logger, loadLimits });
const r3 = await measure('createAdmission, 1 tenant, client ids (fp)', admitter(a3, one, true), Math.min(N, 20_000));
const r4 = await measureConcurrent('  same, 64 in flight', admitter(a3, one, true), Math.min(N, 40_000), 64);
const r5 = await measureConcurrent('  server ids (no fp), 64 in flight', admitter(a3, one), Math.min(N, 40_000), 64);
await a3.close();

// Concurrent bursts on an empty lease: `size` simultaneous admits for a fresh tenant, for which no
// process has leased anything yet (pro-like limits: 100/s, burst 200, 32 in flight, hard quotas
// on requests, items and compute) — what a client pool's first burst meets. Tickets are held until
// the whole burst is in, then released. Redis calls (scripts and publishes, background ones
// included) are counted on the connection. Size 1 is the same path without company: one request
// alone on a fresh tenant, the unbatched baseline.
const BURST = 32;
let redisCalls = 0;
for (const m of ['evalsha', 'eval', 'publish']) {
  const orig = redis[m].bind(redis);
  redis[m] = (...args) => {
    redisCalls++;
    return orig(...args);
  };
}
async function measureBursts(name, size, count) {
  const burstLimits = (tenantId) => {
    const l = generousLimits(tenantId, 3);
    return { ...l, tenant: { ...l.tenant, rate: { rps: 100, burst: 200 }, concurrency: BURST } };
  };
  const a = createAdmission({ config, redis, pools: {}, logger, loadLimits: async ({ tenantId }) => burstLimits(tenantId) });
  const apiKeyId = randomUUID();
  const lat = new Float64Array(count);
  let refused = 0;
  const calls0 = redisCalls;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < count; b++) {
    const tenantId = randomUUID();
    const s = process.hrtime.bigint();
    const ds = await Promise.all(Array.from({ length: size }, (_, i) => a.admit({ tenantId, apiKeyId, model: 'm', items: 4, eventId: `b-${b}-${i}` })));
    lat[b] = Number(process.hrtime.bigint() - s) / 1000;
    for (const d of ds) if (d.allowed) d.ticket.release({ computeUs: 250, items: 4, ok: true });
    else refused++;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  await a.close(); // its leases go back: counted with the run's calls
  const sorted = Array.from(lat).sort((x, y) => x - y);
  const r = { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), cpuUs: (cpu.user + cpu.system) / (count * size), callsPerRequest: (redisCalls - calls0) / (count * size), refused };
  console.log(
    `${name.padEnd(44)} ${String(Math.round((count * size) / wall)).padStart(9)}/s  cpu ${r.cpuUs.toFixed(1).padStart(6)} µs/call  whole burst p50 ${(r.p50 / 1000).toFixed(2)} ms  p99 ${(r.p99 / 1000).toFixed(2)} ms  ${r.callsPerRequest.toFixed(2)} Redis calls/request  refused ${refused}`,
  );
  return r;
}
const bursts = Math.max(20, Math.min(300, Math.floor(N / 300)));
const alone = await measureBursts(`fresh tenant, 1 request alone (${bursts})`, 1, bursts);
const burstR = await measureBursts(`fresh tenant, ${BURST} simultaneous (${bursts})`, BURST, bursts);

const naiveKey = `${prefix}:naive`;
const naive = await measure('naive: one Redis round trip per request', () => runScript(redis, rateTake, [naiveKey], [1e7, 1e7, Date.now(), 1, 0, 60_000]), Math.min(N, 30_000));

console.log(`\nadmission p99: ${r1.p99.toFixed(1)} µs (1 tenant), ${r2.p99.toFixed(1)} µs (100 tenants); aim <= 50 µs`);
console.log(`p50 vs a Redis round trip per request: ${(naive.p50 / r1.p50).toFixed(1)}x cheaper (1 tenant), ${(naive.p50 / r2.p50).toFixed(1)}x (100 tenants)`);
console.log(`p50 over allowAll: +${(r1.p50 - base.p50).toFixed(1)} µs`);
console.log(`client ids (fingerprint, mark awaited): p50 ${r3.p50.toFixed(1)} µs sequential (${(r3.p50 / naive.p50).toFixed(2)}x a Redis round trip); 64 in flight: ${Math.round(r4.perSecond)}/s, cpu ${r4.cpuUs.toFixed(1)} µs/call vs ${r5.cpuUs.toFixed(1)} µs without fingerprints`);
console.log(
  `concurrent burst of ${BURST} on an empty lease: whole burst p50 ${(burstR.p50 / 1000).toFixed(2)} ms vs ${(alone.p50 / 1000).toFixed(2)} ms for 1 request alone (${(burstR.p50 / alone.p50).toFixed(1)}x for ${BURST}x the requests); ${burstR.callsPerRequest.toFixed(2)} vs ${alone.callsPerRequest.toFixed(2)} Redis calls per request; cpu ${burstR.cpuUs.toFixed(1)} µs/request vs ${r1.cpuUs.toFixed(1)} on the common path (lease in hand, p50 ${r1.p50.toFixed(1)} µs); ${burstR.refused} refused`,
);
await dropRedisPrefix(redis, prefix);
redis.disconnect();
console.log(
  `RESULT p50_us=${r1.p50.toFixed(1)} p99_us=${r1.p99.toFixed(1)} cpu_us=${r1.cpuUs.toFixed(1)} naive_p50_us=${naive.p50.toFixed(1)} fp_p50_us=${r3.p50.toFixed(1)} burst${BURST}_p50_ms=${(burstR.p50 / 1000).toFixed(2)} burst${BURST}_p99_ms=${(burstR.p99 / 1000).toFixed(2)} alone_p50_ms=${(alone.p50 / 1000).toFixed(2)} burst_cpu_us=${burstR.cpuUs.toFixed(1)} burst_calls_per_req=${burstR.callsPerRequest.toFixed(2)} alone_calls_per_req=${alone.callsPerRequest.toFixed(2)} burst_refused=${burstR.refused}`,
);
