/**
 * The detector job end to end on real ClickHouse and Postgres: usage history written through
 * the platform usage import (real rows, real rollups), an error burst injected, `anomaly scan`
 * (the domain pass and the CLI) opens exactly one alert, a re-scan changes nothing, two
 * concurrent scans open it once, and the alert resolves once the burst has been over for the
 * hysteresis' quiet period.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../app/cli/program.js';
import { runAnomalyScan, readScores } from '../../src/anomaly-scan/index.js';
import { createClickHouse, sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { withTenant } from '../../src/db/index.js';
import { alertsPage } from '../../src/alerts/index.js';
import { importUsage } from '../../src/usage/index.js';
import { closeFactories, createTenantSince, factoryDeps } from '../factories.js';

const tenantIdSince = async (days: number) => (await createTenantSince(days)).id;
import { HOUR, hourlyUsage as hours } from './usage-history.js';

const knownModels = new Set(['mlp-demo', 'mlp-large']);
let ch: ClickHouse;

beforeAll(() => {
  ch = createClickHouse(factoryDeps().config);
});
afterAll(async () => {
  await ch?.close();
  await closeFactories();
});

async function load(tenantId: string, lines: string[]): Promise<void> {
  const r = await importUsage({ clickhouse: ch, pools: factoryDeps().pools }, { tenantId, lines, knownModels });
  expect(r.rejected).toEqual([]);
  expect(r.imported).toBe(lines.length);
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'tollgate', ...args], { out: (t) => (stdout += `${t}\n`), err: (t) => (stderr += `${t}\n`), env: process.env });
  return { code, stdout, stderr };
}

describe('anomaly scan (detector job)', () => {
  it('opens one alert for an injected error burst, is idempotent, and resolves after the burst', async () => {
    const tenantId = await tenantIdSince(20);
    const H = Math.floor(Date.now() / HOUR) * HOUR;
    const burstStart = H - 40 * HOUR;
    const burstEnd = burstStart + 3 * HOUR;
    await load(tenantId, [...hours(H - 16 * 24 * HOUR, burstStart, { prefix: 'h' }), ...hours(burstStart, burstEnd, { errors: 15, prefix: 'b' })]);

    // two passes at once (the worker's job and an operator's CLI run): the tenant lock serialises them
    const until = new Date(burstEnd);
    const [a, b] = await Promise.all([runAnomalyScan({ clickhouse: ch, pools: factoryDeps().pools }, { tenantId, until }), runAnomalyScan({ clickhouse: ch, pools: factoryDeps().pools }, { tenantId, until })]);
    const opened = [...a.opened, ...b.opened];
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ tenantId, metric: 'error_ratio', model: '', bucket: new Date(burstStart).toISOString() });
    expect(opened[0]!.explanation).toMatch(/^errors 3\d(\.\d)? % vs expected [\d.]+ % ± [\d.]+ % (for|over)/);
    expect([...a.resolved, ...b.resolved]).toEqual([]);
    // every bucket scored once, by one of the two passes
    expect(Math.min(a.scored, b.scored)).toBe(0);
    const scored = a.scored + b.scored;
    const [rows] = await ch.query<{ n: string; anomalies: string }>(
      sql`SELECT count() AS n, sum(a) AS anomalies FROM (SELECT metric, dimension, bucket, argMax(is_anomaly, scored_at) AS a FROM anomaly_scores_v1 WHERE tenant_id = ${tenantId} GROUP BY metric, dimension, bucket)`,
    );
    expect(Number(rows!.n)).toBe(scored);
    expect(scored).toBeGreaterThan(5 * 300); // five metrics over ~16 days of hours, minus the first hours without a baseline

    // the band is stored: the burst's first hours lie above it (the detector's tail calibration
    // widens the band once a series strays, so not necessarily every burst hour), the hour before inside it
    const series = await readScores(ch, { tenantId, metric: 'error_ratio', model: '', from: new Date(burstStart - HOUR), to: new Date(burstEnd), limit: 10 });
    expect(series.map((p) => p.anomalous).slice(0, 3)).toEqual([false, true, true]);
    for (const p of series.filter((x) => x.anomalous)) expect(p.value).toBeGreaterThan(p.upper);
    expect(series[0]!.value).toBeLessThanOrEqual(series[0]!.upper);
    expect(series[0]!.lower).toBeLessThan(series[0]!.expected);
    const lastAnomalous = Math.max(...series.filter((x) => x.anomalous).map((x) => x.bucket.getTime()));

    const alerts = await withTenant(factoryDeps().pools.app, { tenantId }, (c) => alertsPage(c, { tenantId, status: null, limit: 10, after: null }));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'anomaly', metric: 'error_ratio', status: 'open', source: 'tollgate', id: opened[0]!.alertId });
    expect(alerts[0]!.openedAt.getTime()).toBe(burstStart + HOUR);
    expect(alerts[0]!.details).toMatchObject({ model: '', metric: 'error_ratio', bucket: new Date(lastAnomalous).toISOString() });

    // nothing new: nothing scored, opened or resolved
    expect(await runAnomalyScan({ clickhouse: ch, pools: factoryDeps().pools }, { tenantId, until })).toEqual({ scored: 0, opened: [], resolved: [] });

    // the burst is over: 12 quiet hours after the last anomalous one resolve the alert (through the CLI: exactly one JSON object)
    await load(tenantId, hours(burstEnd, burstEnd + 14 * HOUR, { prefix: 'n' }));
    const run = await cli('anomaly', 'scan', '--tenant', tenantId, '--until', new Date(burstEnd + 14 * HOUR).toISOString(), '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as { scored: number; opened: unknown[]; resolved: Array<{ alertId: string; metric: string; bucket: string }> };
    expect(printed.opened).toEqual([]);
    expect(printed.resolved).toEqual([expect.objectContaining({ alertId: opened[0]!.alertId, metric: 'error_ratio', bucket: new Date(lastAnomalous + 12 * HOUR).toISOString() })]);
    expect(printed.scored).toBe(14 * 5);
    const after = await withTenant(factoryDeps().pools.app, { tenantId }, (c) => alertsPage(c, { tenantId, status: null, limit: 10, after: null }));
    expect(after.map((x) => [x.status, x.resolvedAt?.getTime()])).toEqual([['resolved', lastAnomalous + 13 * HOUR]]);

    expect(JSON.parse((await cli('anomaly', 'scan', '--tenant', tenantId, '--until', new Date(burstEnd + 14 * HOUR).toISOString(), '--json')).stdout)).toEqual({ scored: 0, opened: [], resolved: [] });
  });

  it('refuses a malformed tenant id or time, and an unknown tenant', async () => {
    const bad = await cli('anomaly', 'scan', '--tenant', 'nope', '--json');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--tenant must be a tenant id/);
    const badTime = await cli('anomaly', 'scan', '--until', 'yesterday');
    expect(badTime.code).not.toBe(0);
    expect(badTime.stderr).toMatch(/--until must be an ISO-8601/);
    const unknown = await cli('anomaly', 'scan', '--tenant', '00000000-0000-4000-8000-000000000001', '--json');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/not found/);
    expect(unknown.stdout).toBe('');
  });
});
