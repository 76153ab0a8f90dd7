/** `tollgate simulate` against a real inference role: tenants created, traffic sent and metered, the anomaly injected. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createClickHouse, sql } from '../../src/clickhouse/index.js';
import { startStack, type RunningStack } from '../../app/roles.js';
import { runCli } from '../../app/cli/program.js';
import { seasonality, parseDuration, type SimulateReport } from '../../app/simulate.js';

let stack: RunningStack;
let inference: string;

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'tollgate', 'simulate', ...args], { out: (t) => out.push(t), err: (t) => err.push(t), env: process.env });
  return { code, out, err };
}

beforeAll(async () => {
  const config = loadConfig({ ...process.env, USAGE_FLUSH_INTERVAL_MS: '200' });
  stack = await startStack({ config, roles: ['inference'], ports: { inference: 0 } });
  inference = stack.roles[0]!.url!;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('tollgate simulate', () => {
  it('creates tenants, sends seasonal traffic with an injected anomaly through the inference API, and it is metered', async () => {
    const r = await cli(['--tenants', '2', '--duration', '3s', '--anomalies', '--peak-rps', '12', '--json', '--inference-url', inference]);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    const report = JSON.parse(r.out[0]!) as SimulateReport;
    expect(report.tenants).toHaveLength(2);
    expect(report.sent).toBeGreaterThan(5);
    expect(report.ok + Object.values(report.byStatus).reduce((a, b) => a + b, 0)).toBe(report.sent);
    expect(report.tenants[0]!.sent).toBeGreaterThan(report.tenants[1]!.sent); // the anomaly and the larger weight
    expect(report.byStatus['400']).toBeGreaterThan(0); // malformed requests inside the anomaly window
    expect(report.anomalies).toEqual({ tenant: report.tenants[0]!.name, fromMs: 1000, toMs: 2000 });
    for (const t of report.tenants) expect(t.key).toMatch(/^tg_/);

    const ch = createClickHouse(loadConfig());
    try {
      const ids = report.tenants.map((t) => t.id);
      const deadline = Date.now() + 30_000;
      let okRows = 0;
      while (Date.now() < deadline) {
        const rows = await ch.query<{ n: string | number }>(sql`SELECT count() AS n FROM usage_events_v1 WHERE tenant_id IN (${ids[0]!}, ${ids[1]!}) AND status = 'ok' AND ts >= now() - 600`);
        okRows = Number(rows[0]?.n ?? 0);
        if (okRows >= report.ok) break;
        await new Promise((res) => setTimeout(res, 300));
      }
      expect(okRows).toBe(report.ok);
    } finally {
      await ch.close();
    }
  });

  it('--backfill imports seasonal history (with the anomaly two days back) through the usage import before live traffic', async () => {
    const r = await cli(['--tenants', '1', '--duration', '1s', '--backfill', '3d', '--backfill-peak-per-hour', '20', '--anomalies', '--json', '--inference-url', inference]);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out[0]!) as SimulateReport;
    expect(report.backfill!.imported).toBeGreaterThan(100);
    const from = Date.parse(report.backfill!.from);
    expect(Date.parse(report.backfill!.to) - from).toBeGreaterThanOrEqual(3 * 86_400_000);
    const ch = createClickHouse(loadConfig());
    try {
      const rows = await ch.query<{ n: string | number; bad: string | number; spike: string | number }>(
        sql`SELECT count() AS n, countIf(status != 'ok') AS bad, countIf(ts >= ${new Date(Date.parse(report.backfill!.to) - 2 * 86_400_000)} AND ts < ${new Date(Date.parse(report.backfill!.to) - 2 * 86_400_000 + 3 * 3_600_000)}) AS spike
            FROM usage_events_v1 WHERE tenant_id = ${report.tenants[0]!.id} AND ts < ${new Date(report.backfill!.to)}`,
      );
      expect(Number(rows[0]!.n)).toBe(report.backfill!.imported);
      expect(Number(rows[0]!.bad)).toBeGreaterThan(0);
      expect(Number(rows[0]!.spike)).toBeGreaterThan(0);
    } finally {
      await ch.close();
    }
  });

  it('refuses bad counts, durations and backfill spans with one-line errors', async () => {
    expect((await cli(['--tenants', '0', '--duration', '1s'])).err.join('\n')).toMatch(/--tenants must be an integer from 1 to 100/);
    expect((await cli(['--tenants', '1', '--duration', 'soon'])).err.join('\n')).toMatch(/not a duration/);
    expect((await cli(['--tenants', '1', '--duration', '1s', '--backfill', '400d'])).err.join('\n')).toMatch(/--backfill must be between 1h and 93d/);
  });

  it('follows a daily and weekly curve', () => {
    const wed = (h: number) => Date.UTC(2026, 11, 2, h);
    expect(seasonality(wed(15))).toBeCloseTo(1, 5);
    expect(seasonality(wed(3))).toBeCloseTo(0.3, 5);
    expect(seasonality(Date.UTC(2026, 11, 5, 15))).toBeCloseTo(0.55, 5); // Saturday
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
  });
});
