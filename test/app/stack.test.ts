/**
 * The whole stack in one process, as `tollgate serve` runs it: a real inference request
 * (and its client retry) becomes exactly one usage row in ClickHouse, one `oip.infer` span
 * in otel_traces_v1 through the built-in OTLP receiver, and shows up in the GraphQL API's
 * usage series and request trace for its tenant only.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startStack, type RunningStack } from '../../app/roles.js';
import { sql } from '../../src/clickhouse/index.js';
import { createTenantWithKey, closeFactories } from '../factories.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let stack: RunningStack;
let urls: Record<string, string>;

beforeAll(async () => {
  const otlpPort = await freePort();
  // NodeSDK reads OTEL_SDK_DISABLED from the environment itself (the global setup disables it).
  process.env.OTEL_SDK_DISABLED = 'false';
  const config = loadConfig({
    ...process.env,
    OTEL_SDK_DISABLED: 'false',
    TOLLGATE_OTLP_PORT: String(otlpPort),
    USAGE_FLUSH_INTERVAL_MS: '200',
    OTLP_FLUSH_INTERVAL_MS: '200',
  });
  stack = await startStack({ config, roles: ['inference', 'api', 'otlp', 'worker'], ports: { inference: 0, api: 0, otlp: otlpPort } });
  urls = Object.fromEntries(stack.roles.filter((r) => r.url).map((r) => [r.role, r.url!]));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await closeFactories();
});

const input = { name: 'input', shape: [3, 64], datatype: 'FP32', data: Array.from({ length: 192 }, (_, i) => Math.sin(i)) };

async function infer(secret: string, id: string) {
  return fetch(`${urls.inference}/v2/models/mlp-demo/infer`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, inputs: [input] }),
  });
}

async function graphql(secret: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(urls.api!, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

describe('tollgate serve (all roles in one process)', () => {
  it('meters a request and its retry once, traces it, and reports it to its own tenant only', async () => {
    const { tenant, key } = await createTenantWithKey({ role: 'admin' });
    const other = await createTenantWithKey({ role: 'admin' });
    const requestId = `e2e-${Date.now()}`;

    const first = await infer(key.secret, requestId);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBeTruthy();
    const body = (await first.json()) as { id: string; outputs: Array<{ shape: number[]; data: number[] }> };
    expect(body.id).toBe(requestId);
    expect(body.outputs[0]!.shape).toEqual([3, 10]);
    const retry = await infer(key.secret, requestId);
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as typeof body).outputs[0]!.data).toEqual(body.outputs[0]!.data);

    const ch = stack.infra.clickhouse;
    const rows = await until('the usage row', async () => {
      const r = await ch.query<{ event_id: string; items: number; status: string; device: string }>(
        sql`SELECT event_id, items, status, device FROM usage_events_v1 WHERE tenant_id = ${tenant.id} AND ts >= now() - 3600`,
      );
      return r.length > 0 ? r : undefined;
    });
    // Give a duplicate a chance to land before asserting there is none.
    await new Promise((r) => setTimeout(r, 1_000));
    const again = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM usage_events_v1 WHERE tenant_id = ${tenant.id} AND ts >= now() - 3600`);
    expect(rows[0]).toMatchObject({ event_id: requestId, items: 3, status: 'ok', device: 'cpu' });
    expect(Number(again[0]!.n)).toBe(1);

    const range = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
    const usageQuery = `query($range: TimeRangeInput!) { usage(range: $range, granularity: HOUR, groupBy: MODEL) { series { key points { requests items } } } }`;
    const mine = await graphql(key.secret, usageQuery, { range });
    expect(mine.errors).toBeUndefined();
    const series = mine.data.usage.series.find((s: any) => s.key === 'mlp-demo');
    expect(series.points.reduce((n: number, p: any) => n + p.requests, 0)).toBe(1);
    expect(series.points.reduce((n: number, p: any) => n + p.items, 0)).toBe(3);
    const theirs = await graphql(other.key.secret, usageQuery, { range });
    expect(theirs.data.usage.series.flatMap((s: any) => s.points).reduce((n: number, p: any) => n + p.requests, 0)).toBe(0);

    const span = await until('the oip.infer span', async () => {
      const r = await ch.query<{ TraceId: string; keys: string[]; values: string[] }>(
        sql`SELECT TraceId, SpanAttributesKeys AS keys, SpanAttributesValues AS values FROM otel_traces_v1
            WHERE TenantId = ${tenant.id} AND Timestamp >= now() - 3600 AND SpanName = 'oip.infer'`,
      );
      return r.length >= 2 ? r : undefined;
    });
    const attrs = Object.fromEntries(span[0]!.keys.map((k, i) => [k, span[0]!.values[i]]));
    expect(attrs['tenant.id']).toBe(tenant.id);
    expect(attrs['model']).toBe('mlp-demo');

    const traceQuery = `query($id: String!) { requestTrace(requestId: $id) { spans { name traceId } } }`;
    const trace = await graphql(key.secret, traceQuery, { id: requestId });
    expect(trace.errors).toBeUndefined();
    expect(trace.data.requestTrace.spans.map((s: any) => s.name)).toContain('oip.infer');
    const foreign = await graphql(other.key.secret, traceQuery, { id: requestId });
    expect(foreign.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('records and meters the server span when the client traceparent says sampled=0', async () => {
    const { tenant, key } = await createTenantWithKey({ role: 'member' });
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const res = await fetch(`${urls.inference}/v2/models/mlp-demo/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json', traceparent: `00-${traceId}-${parentId}-00` },
      body: JSON.stringify({ inputs: [input] }),
    });
    expect(res.status).toBe(200);
    const ch = stack.infra.clickhouse;
    const spans = await until('the oip.infer span of the unsampled trace', async () => {
      const r = await ch.query<{ TraceId: string; ParentSpanId: string; SpanName: string }>(
        sql`SELECT TraceId, ParentSpanId, SpanName FROM otel_traces_v1 WHERE TenantId = ${tenant.id} AND Timestamp >= now() - 3600 AND TraceId = ${traceId}`,
      );
      return r.length > 0 ? r : undefined;
    });
    expect(spans).toEqual([{ TraceId: traceId, ParentSpanId: parentId, SpanName: 'oip.infer' }]);
    const usage = await until('the usage row', async () => {
      const r = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM usage_events_v1 WHERE tenant_id = ${tenant.id} AND ts >= now() - 3600`);
      return Number(r[0]!.n) > 0 ? Number(r[0]!.n) : undefined;
    });
    expect(usage).toBe(1);
  });
});
