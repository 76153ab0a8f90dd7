/**
 * Retention drops only partitions entirely older than each table's retention. Runs in a
 * private, freshly migrated ClickHouse database so it can never drop another test's rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createClickHouse, ident, migrateClickHouse, sql, tables, usageEventColumns, type ClickHouse } from '../../src/clickhouse/index.js';
import { runRetention, partitionEnd } from '../../src/jobs/index.js';
import { toUsageRow } from '../../src/usage/rows.js';
import { usageRecord } from '../usage/helpers.js';

let config: Config;
let ch: ClickHouse;
let admin: ClickHouse;
const DAY = 86_400_000;
const now = Date.now();
const tenantId = randomUUID();

beforeAll(async () => {
  const db = `${process.env.CLICKHOUSE_DATABASE}_retention_${randomBytes(3).toString('hex')}`;
  config = loadConfig({ ...process.env, CLICKHOUSE_DATABASE: db, RETENTION_USAGE_DAYS: '365', RETENTION_ROLLUP_DAYS: '800', RETENTION_MINUTE_ROLLUP_DAYS: '40', RETENTION_TRACES_DAYS: '30' });
  await migrateClickHouse({ config });
  ch = createClickHouse(config);
  admin = createClickHouse(config, { database: 'default' });
  const ages = [3 * 365, 100, 10, 0];
  await ch.insert(tables.usageEvents, ages.map((age) => toUsageRow(usageRecord(tenantId, { ts: now - age * DAY }), 'b1')), { columns: usageEventColumns });
  const span = (ageDays: number) => {
    const ns = BigInt(now - ageDays * DAY) * 1_000_000n;
    return { TenantId: tenantId, Timestamp: Math.floor((now - ageDays * DAY) / 1000), TimestampNs: ns.toString(), TraceId: randomBytes(16).toString('hex'), SpanId: randomBytes(8).toString('hex'), SpanName: `age-${ageDays}` };
  };
  await ch.insert(tables.otelTraces, [span(45), span(31), span(1)], { columns: ['TenantId', 'Timestamp', 'TimestampNs', 'TraceId', 'SpanId', 'SpanName'] });
});

afterAll(async () => {
  await ch?.close();
  await admin?.exec(sql`DROP DATABASE IF EXISTS ${ident(config.CLICKHOUSE_DATABASE, [config.CLICKHOUSE_DATABASE])}`).catch(() => undefined);
  await admin?.close();
});

async function countWhere(table: 'usage_events_v1' | 'usage_minute_v1' | 'usage_hourly_v1' | 'otel_traces_v1'): Promise<number> {
  const q = {
    usage_events_v1: sql`SELECT count() AS n FROM usage_events_v1 WHERE tenant_id = ${tenantId} AND ts >= toDateTime(0)`,
    usage_minute_v1: sql`SELECT sum(requests) AS n FROM usage_minute_v1 WHERE tenant_id = ${tenantId} AND bucket >= toDateTime(0)`,
    usage_hourly_v1: sql`SELECT sum(requests) AS n FROM usage_hourly_v1 WHERE tenant_id = ${tenantId} AND bucket >= toDateTime(0)`,
    otel_traces_v1: sql`SELECT count() AS n FROM otel_traces_v1 WHERE TenantId = ${tenantId} AND Timestamp >= toDateTime(0)`,
  }[table];
  const [row] = await ch.query<{ n: string }>(q);
  return Number(row?.n ?? 0);
}

describe('retention job', () => {
  it('knows the span each partition format covers', () => {
    expect(partitionEnd('202602')).toBe(Date.UTC(2026, 2, 1));
    expect(partitionEnd('20261231')).toBe(Date.UTC(2027, 0, 1));
    expect(partitionEnd("'2026-11-28'")).toBe(Date.UTC(2026, 10, 29));
    expect(partitionEnd('2025')).toBe(Date.UTC(2026, 0, 1));
    expect(partitionEnd('tuple()')).toBeNull();
  });

  it('drops only partitions older than each table\'s retention (dry run first drops nothing)', async () => {
    const before = { events: await countWhere('usage_events_v1'), minute: await countWhere('usage_minute_v1'), hourly: await countWhere('usage_hourly_v1'), traces: await countWhere('otel_traces_v1') };
    expect(before).toEqual({ events: 4, minute: 4, hourly: 4, traces: 3 });

    const planned = await runRetention({ clickhouse: ch, config, now: new Date(now), dryRun: true });
    expect(await countWhere('usage_events_v1')).toBe(4);

    const dropped = await runRetention({ clickhouse: ch, config, now: new Date(now) });
    expect(dropped).toEqual(planned);
    const byTable = (t: string) => dropped.filter((d) => d.table === t).length;
    expect(byTable('usage_events_v1')).toBe(1); // the 3-year-old month only
    expect(byTable('usage_hourly_v1')).toBe(1);
    expect(byTable('usage_minute_v1')).toBe(2); // 3 years and 100 days (> 40 days); 10 days stays
    expect(byTable('otel_traces_v1')).toBe(2); // 45 and 31 days (> 30 days)
    expect(await countWhere('usage_events_v1')).toBe(3);
    expect(await countWhere('usage_hourly_v1')).toBe(3);
    expect(await countWhere('usage_minute_v1')).toBe(2);
    expect(await countWhere('otel_traces_v1')).toBe(1);
    // Idempotent: a second run finds nothing more to drop.
    expect(await runRetention({ clickhouse: ch, config, now: new Date(now) })).toEqual([]);
  });
});
