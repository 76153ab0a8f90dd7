/**
 * Issue 17.10 as an attack against the real servers: random API keys sent at the inference,
 * GraphQL and OTLP edges. Before the fix each one was a Postgres lookup (500 keys = 500 lookups).
 * Now the failed-credential limiter (src/identity, Redis) lets at most AUTH_FAILURES_PER_IP
 * unknown credentials per source address reach the database per window — and at most
 * AUTH_FAILURES_GLOBAL across addresses — and answers the rest 429 with Retry-After. Valid keys
 * are unaffected: one used before keeps working from the flooding address and during a global
 * flood, and a fresh valid key from another address is served. Lookups are counted at the pool.
 * Clients bind distinct loopback addresses (127.0.0.x) to be distinct sources.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type pg from 'pg';
import { createLogger, createRedis } from '../../src/shared/index.js';
import { createClickHouse, type ClickHouse } from '../../src/clickhouse/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createApiKeyAuthenticator, type ApiKeyAuthenticator } from '../../src/keys/index.js';
import { createFailedAuthLimiter } from '../../src/identity/index.js';
import { createOtlpReceiver, type OtlpReceiver } from '../../otlp/src/index.js';
import { closeFactories, createTenantWithKey, factoryDeps } from '../factories.js';
import { makeRepo, startServer, type Running } from '../inference/helpers.js';
import { startHarness, type Harness } from '../graphql/harness.js';

const PER_IP = 20;
const GLOBAL = 60;

let lookups = 0;
let authenticator: ApiKeyAuthenticator;
let inference: Running;
let api: Harness;
let otlp: OtlpReceiver;
let otlpUrl: string;
let ch: ClickHouse;
const repo = makeRepo([]);

beforeAll(async () => {
  // Every API-key lookup that reaches Postgres goes through this pool.
  const real = factoryDeps().pools.app;
  const counting = new Proxy(real, {
    get(target, prop) {
      if (prop === 'query') {
        return (text: unknown, ...rest: unknown[]) => {
          if (typeof text === 'string' && text.includes('auth_api_key')) lookups++;
          return (target.query as (...a: unknown[]) => unknown).call(target, text, ...rest);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as pg.Pool;
  const env = { AUTH_FAILURES_PER_IP: String(PER_IP), AUTH_FAILURES_GLOBAL: String(GLOBAL), AUTH_FAILURE_WINDOW_SECONDS: '600', API_KEY_CACHE_TTL_MS: '0' };
  const config = loadConfig({ ...process.env, ...env });
  const redis = createRedis(config);
  // Cache TTL 0: every request, valid or not, would be a lookup — the worst case for the database.
  authenticator = createApiKeyAuthenticator({ pools: { app: counting } as never, redis, config });
  const failedAuth = createFailedAuthLimiter({ redis, config, namespace: randomUUID() });
  const authenticate = (s: string, o?: Parameters<ApiKeyAuthenticator['authenticate']>[1]) => authenticator.authenticate(s, o);
  inference = await startServer({ repo: repo.dir, env, authenticate, failedAuth });
  api = await startHarness({ env, deps: { authenticate, failedAuth } });
  ch = createClickHouse(config);
  otlp = createOtlpReceiver({ config, logger: createLogger({ level: 'silent' }), clickhouse: ch, authenticate, failedAuth });
  otlpUrl = `http://127.0.0.1:${(await otlp.listen(0, '0.0.0.0')).port}/v1/traces`;
  afterAll(() => redis.disconnect());
}, 60_000);

afterAll(async () => {
  await inference?.close();
  await api?.close();
  await otlp?.close();
  await ch?.close();
  await authenticator?.close();
  repo.cleanup();
  await closeFactories();
});

const randomKey = () => `tg_${randomBytes(32).toString('base64url')}`;

/** One HTTP request from a chosen loopback source address. */
function send(url: string, from: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; retryAfter: string | undefined }> {
  const u = new URL(url.replace('0.0.0.0', '127.0.0.1'));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname, method: opts.method ?? 'GET', localAddress: from, headers: { ...(opts.body ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const inferenceCall = (from: string, key: string) => send(`${inference.base}/v2/models/no-such-model`, from, { headers: { authorization: `Bearer ${key}` } });
const graphqlCall = (from: string, key: string) =>
  send(api.url, from, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ viewer { role } }' }) });
const otlpCall = (from: string, key: string) => send(otlpUrl, from, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"resourceSpans":[]}' });

async function inBatches<T>(n: number, size: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += size) out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, j) => fn(i + j)))));
  return out;
}

describe('17.10: failed credentials are limited before the database', () => {
  it('500 random keys from one address: at most AUTH_FAILURES_PER_IP reach Postgres, the rest get 429 + Retry-After; valid keys still pass', async () => {
    const { key: known } = await createTenantWithKey({});
    expect((await inferenceCall('127.0.0.2', known.secret)).status).toBe(404); // authenticated (the model is unknown): the key is now known-good
    const before = lookups;
    const replies = await inBatches(500, 50, () => inferenceCall('127.0.0.2', randomKey()));
    const flood = lookups - before;
    const statuses = replies.map((r) => r.status);
    // Before the fix: 500 lookups, 500 × 401.
    expect(flood).toBeLessThanOrEqual(PER_IP);
    expect(statuses.filter((s) => s === 401).length).toBe(flood);
    expect(statuses.filter((s) => s === 429).length).toBe(500 - flood);
    const refused = replies.find((r) => r.status === 429)!;
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);

    // The known key still authenticates from the flooding address (and is looked up: cache TTL 0).
    const l = lookups;
    expect((await inferenceCall('127.0.0.2', known.secret)).status).toBe(404);
    expect(lookups).toBe(l + 1);
    // A valid key never used before, from another address, is served.
    const { key: fresh } = await createTenantWithKey({});
    expect((await inferenceCall('127.0.0.3', fresh.secret)).status).toBe(404);
    // ...while from the flooding address an unknown credential — a new valid key included — waits.
    const { key: fresh2 } = await createTenantWithKey({});
    expect((await inferenceCall('127.0.0.2', fresh2.secret)).status).toBe(429);
  });

  it('the limit is shared by every edge: an address that flooded OTLP is refused on GraphQL and inference without a lookup', async () => {
    const before = lookups;
    const otlpReplies = await inBatches(40, 20, () => otlpCall('127.0.0.4', randomKey()));
    expect(otlpReplies.filter((r) => r.status === 401).length).toBe(lookups - before);
    expect(lookups - before).toBeLessThanOrEqual(PER_IP);
    expect(otlpReplies.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(40 - PER_IP);
    expect(otlpReplies.find((r) => r.status === 429)!.retryAfter).toBeTruthy();
    const l = lookups;
    const g = await graphqlCall('127.0.0.4', randomKey());
    expect(g.status).toBe(429);
    expect(Number(g.retryAfter)).toBeGreaterThan(0);
    expect((await inferenceCall('127.0.0.4', randomKey())).status).toBe(429);
    expect(lookups).toBe(l);
    // A valid key on GraphQL from another address is served.
    const { key } = await createTenantWithKey({ role: 'admin' });
    expect((await graphqlCall('127.0.0.5', key.secret)).status).toBe(200);
  });

  it('a distributed guess (many addresses, few keys each) trips the global limit; keys seen valid still pass', async () => {
    const { key: known } = await createTenantWithKey({});
    expect((await inferenceCall('127.0.0.6', known.secret)).status).toBe(404);
    const before = lookups;
    // 100 addresses × 3 keys: no address reaches its own limit.
    const replies = await inBatches(300, 30, (i) => inferenceCall(`127.0.1.${10 + (i % 100)}`, randomKey()));
    const flood = lookups - before;
    expect(flood).toBeLessThanOrEqual(GLOBAL);
    expect(replies.filter((r) => r.status === 429).length).toBe(300 - flood);
    expect((await inferenceCall('127.0.0.7', randomKey())).status).toBe(429);
    expect((await inferenceCall('127.0.0.7', known.secret)).status).toBe(404);
  });
});
