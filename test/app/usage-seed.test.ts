/** `tollgate usage seed`: generated history for an existing tenant through the usage import, idempotent per hour. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createClickHouse, sql } from '../../src/clickhouse/index.js';
import { runCli } from '../../app/cli/program.js';
import type { SeedHistoryReport } from '../../app/simulate.js';

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'tollgate', ...args], { out: (t) => out.push(t), err: (t) => err.push(t), env: process.env });
  return { code, out, err };
}

async function tenant(name: string, billingStart?: Date): Promise<string> {
  const r = await cli(['tenant', 'create', '--name', name, '--plan', 'starter', ...(billingStart ? ['--billing-start', billingStart.toISOString()] : []), '--json']);
  expect(r.code).toBe(0);
  return (JSON.parse(r.out[0]!) as { tenantId: string }).tenantId;
}

describe('tollgate usage seed', () => {
  it('imports seasonal history with the anomaly, and a second run imports nothing new', async () => {
    const id = await tenant(`seed-${Date.now().toString(36)}`, new Date(Date.now() - 4 * 86_400_000));
    const first = await cli(['usage', 'seed', '--tenant', id, '--span', '3d', '--peak-per-hour', '20', '--anomaly', '--json']);
    expect(first.err).toEqual([]);
    expect(first.code).toBe(0);
    const a = JSON.parse(first.out[0]!) as SeedHistoryReport;
    expect(a.clampedToFirstPlan).toBe(false);
    expect(Date.parse(a.to) - Date.parse(a.from)).toBe(3 * 86_400_000);
    expect(a.imported).toBeGreaterThan(100);
    expect(a.anomaly).not.toBeNull();

    const ch = createClickHouse(loadConfig());
    try {
      const rows = await ch.query<{ n: string | number; spikeBad: string | number; otherBad: string | number }>(
        sql`SELECT count() AS n,
                   countIf(status != 'ok' AND ts >= ${new Date(a.anomaly!.from)} AND ts < ${new Date(a.anomaly!.to)}) AS spikeBad,
                   countIf(status != 'ok' AND (ts < ${new Date(a.anomaly!.from)} OR ts >= ${new Date(a.anomaly!.to)})) AS otherBad
            FROM usage_events_v1 WHERE tenant_id = ${id}`,
      );
      expect(Number(rows[0]!.n)).toBe(a.imported);
      // A third of the anomaly's requests fail, ~1 % elsewhere: the burst stands out.
      expect(Number(rows[0]!.spikeBad)).toBeGreaterThan(Number(rows[0]!.otherBad) / 10);
    } finally {
      await ch.close();
    }

    const again = await cli(['usage', 'seed', '--tenant', id, '--span', '3d', '--peak-per-hour', '20', '--anomaly', '--json']);
    expect(again.code).toBe(0);
    const b = JSON.parse(again.out[0]!) as SeedHistoryReport;
    if (b.to === a.to) {
      expect(b.imported).toBe(0);
      expect(b.duplicates).toBe(a.imported);
    } else {
      // The clock crossed an hour between the runs: only the new hour is imported.
      expect(b.duplicates).toBeGreaterThan(0);
    }
  });

  it('does not reach before the tenant’s first plan, and refuses unknown models and tenants', async () => {
    const id = await tenant(`seed-new-${Date.now().toString(36)}`);
    const r = await cli(['usage', 'seed', '--tenant', id, '--span', '3d', '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out[0]!) as SeedHistoryReport;
    expect(rep.clampedToFirstPlan).toBe(true);
    expect(Date.parse(rep.from)).toBeGreaterThanOrEqual(Date.now() - 3_600_000 * 2);

    const bad = await cli(['usage', 'seed', '--tenant', id, '--models', 'no-such-model', '--json']);
    expect(bad.code).not.toBe(0);
    expect(bad.err.join('\n')).toMatch(/unknown model\(s\) no-such-model/);

    const none = await cli(['usage', 'seed', '--tenant', '00000000-0000-4000-8000-000000000001', '--json']);
    expect(none.code).not.toBe(0);
    expect(none.err.join('\n')).toMatch(/does not exist or has no plan/);
  });
});
