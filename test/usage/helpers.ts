/** Shared helpers for the metering tests: a cuttable ClickHouse (TCP proxy or, embedded, a cut client), usage records, ClickHouse counts. */
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/index.js';
import { ClickHouseError, createClickHouse, isEmbeddedUrl, sql, type ClickHouse } from '../../src/clickhouse/index.js';
import type { UsageRecord } from '../../src/usage/contract.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

export { startTcpProxy, type TcpProxy };

/**
 * A ClickHouse the test can cut ('down') or make lose insert answers after the insert ran
 * ('drop-insert-responses', an ambiguous failure). On a server: a real TCP proxy in front of it.
 * On the embedded engine (chdb:, no connection to cut): the client itself fails those calls with
 * the transport error (code 0) a reset connection gives — after running the insert, when its
 * answer is "lost".
 */
export interface CuttableClickHouse {
  setMode(mode: TcpProxy['mode']): void;
  /** Inserts whose answers were dropped. */
  readonly dropped: number;
  /** A client (of `config`'s database) whose calls go through the cut. */
  client(config: Config): ClickHouse;
  /** Settings for a child process whose ClickHouse traffic goes through the cut (server only). */
  childEnv(): Record<string, string> | undefined;
  close(): Promise<void>;
}

export async function startCuttableClickHouse(config: Config = testConfig()): Promise<CuttableClickHouse> {
  if (!isEmbeddedUrl(config.CLICKHOUSE_URL)) {
    const proxy = await startTcpProxy(new URL(config.CLICKHOUSE_URL));
    return {
      setMode: (m) => proxy.setMode(m),
      get dropped() {
        return proxy.dropped;
      },
      client: (c) => createClickHouse({ ...c, CLICKHOUSE_URL: proxy.url }),
      childEnv: () => ({ CLICKHOUSE_URL: proxy.url }),
      close: () => proxy.close(),
    };
  }
  let mode: TcpProxy['mode'] = 'pass';
  let dropped = 0;
  const cut = () => new ClickHouseError(0, 'ClickHouse request failed: read ECONNRESET (cut by the test)');
  const guard = async <R>(fn: () => Promise<R>): Promise<R> => {
    if (mode === 'down') throw cut();
    return fn();
  };
  return {
    setMode: (m) => (mode = m),
    get dropped() {
      return dropped;
    },
    client(c) {
      const real = createClickHouse(c);
      return {
        database: real.database,
        query: (q, o) => guard(() => real.query(q, o)),
        async *stream(q, o) {
          if (mode === 'down') throw cut();
          yield* real.stream(q, o);
        },
        exec: (q, o) => guard(() => real.exec(q, o)),
        insert: (t, rows, o) =>
          guard(async () => {
            await real.insert(t, rows, o);
            if (mode === 'drop-insert-responses') {
              dropped++;
              throw cut();
            }
            if (mode === 'down') throw cut(); // cut while it ran: the insert landed, the answer did not
          }),
        ping: async () => (mode === 'down' ? false : real.ping()),
        close: () => real.close(),
      };
    },
    childEnv: () => undefined,
    close: async () => undefined,
  };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...process.env, ...overrides });
}

export async function tempStateDir(label: string): Promise<string> {
  const base = process.env.TOLLGATE_STATE_DIR ?? path.resolve('.state/test');
  const dir = path.join(base, `${label}-${randomUUID().slice(0, 8)}`);
  await fsp.mkdir(dir, { recursive: true });
  return dir;
}

let seq = 0;
export function usageRecord(tenantId: string, overrides: Partial<UsageRecord> = {}): UsageRecord {
  seq++;
  const eventId = overrides.eventId ?? `req-${seq}-${randomUUID()}`;
  return {
    eventId,
    requestId: eventId,
    tenantId,
    apiKeyId: '00000000-0000-4000-8000-00000000000a',
    model: 'mlp-demo',
    modelVersion: '1',
    ts: Date.now(),
    status: 'ok',
    httpStatus: 200,
    items: 1 + (seq % 4),
    inputBytes: 100 + (seq % 7),
    outputBytes: 40,
    queueUs: 10 + (seq % 50),
    computeUs: 200 + (seq % 100),
    batchSize: 4,
    billedComputeUs: 50 + (seq % 10),
    device: 'cpu',
    traceId: '',
    tags: { team: seq % 2 ? 'a' : 'b' },
    ...overrides,
  };
}

export function directClickHouse(config: Config = testConfig()): ClickHouse {
  return createClickHouse(config);
}

export interface TenantTotals {
  rows: number;
  distinctEvents: number;
  items: number;
  computeUs: number;
  rollupRequests: { minute: number; hourly: number; daily: number };
  rollupItems: { minute: number; hourly: number; daily: number };
}

/** Raw-table and rollup totals for one tenant (rollups count every row ever inserted, merges or not). */
export async function tenantTotals(ch: ClickHouse, tenantId: string): Promise<TenantTotals> {
  const from = Math.floor(Date.now() / 1000) - 3 * 86400;
  const to = Math.floor(Date.now() / 1000) + 86400;
  const [raw] = await ch.query<{ rows: string; distinct_events: string; items: string; compute_us: string }>(
    sql`SELECT count() AS rows, uniqExact(event_id) AS distinct_events, sum(items) AS items, sum(compute_us) AS compute_us
        FROM usage_events_v1 WHERE tenant_id = ${tenantId} AND ts >= toDateTime(${from}) AND ts < toDateTime(${to})`,
  );
  const rollup = async (table: 'minute' | 'hourly' | 'daily') => {
    const q =
      table === 'minute'
        ? sql`SELECT sum(requests) AS r, sum(items) AS i FROM usage_minute_v1 WHERE tenant_id = ${tenantId} AND bucket >= toDateTime(${from - 86400}) AND bucket < toDateTime(${to})`
        : table === 'hourly'
          ? sql`SELECT sum(requests) AS r, sum(items) AS i FROM usage_hourly_v1 WHERE tenant_id = ${tenantId} AND bucket >= toDateTime(${from - 86400}) AND bucket < toDateTime(${to})`
          : sql`SELECT sum(requests) AS r, sum(items) AS i FROM usage_daily_v1 WHERE tenant_id = ${tenantId} AND bucket >= toDateTime(${from - 86400}) AND bucket < toDateTime(${to})`;
    const [row] = await ch.query<{ r: string; i: string }>(q);
    return { r: Number(row?.r ?? 0), i: Number(row?.i ?? 0) };
  };
  const [m, h, d] = await Promise.all([rollup('minute'), rollup('hourly'), rollup('daily')]);
  return {
    rows: Number(raw?.rows ?? 0),
    distinctEvents: Number(raw?.distinct_events ?? 0),
    items: Number(raw?.items ?? 0),
    computeUs: Number(raw?.compute_us ?? 0),
    rollupRequests: { minute: m.r, hourly: h.r, daily: d.r },
    rollupItems: { minute: m.i, hourly: h.i, daily: d.i },
  };
}

export function silentLogger() {
  // pino with level silent: the components log through it without output.
  return import('../../src/shared/index.js').then(({ createLogger }) => createLogger({ level: 'silent' }));
}
