/**
 * The real inference server, metered by the real WAL sink, in a child process that is
 * SIGKILLed mid-load and restarted on the same WAL directory: every request that got a 200
 * is billed exactly once (and client retries of any id are billed once too).
 * "Billed once" is checked on the rollups, which count every row ever inserted.
 * Runs on both ClickHouse engines; on the embedded one this process opens ClickHouse only
 * while no child runs (one process per data directory), and only the raw table is exact after a
 * SIGKILL (the engine dies with the process; see the rollup check below).
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { isEmbeddedUrl, sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { load, okIds, startChild, tenantId } from './crash-child.js';
import { directClickHouse, tempStateDir, tenantTotals } from './helpers.js';

async function withClickHouse<T>(fn: (ch: ClickHouse) => Promise<T>): Promise<T> {
  const ch = directClickHouse();
  try {
    return await fn(ch);
  } finally {
    await ch.close();
  }
}

describe('SIGKILL of the inference process mid-load', () => {
  it('bills every acknowledged request exactly once after a restart on the same WAL', async () => {
    // The narrower flush-time check (only Redis-detected replays are looked up in ClickHouse)
    // must still close the crash window; 'all' checks a superset.
    const walDir = await tempStateDir('crash-wal');
    const first = await startChild(walDir, { USAGE_DEDUP_CHECK: 'replays' });
    const phase1Ids = Array.from({ length: 2500 }, (_, i) => `p1-${i}-${randomUUID()}`);
    const phase1 = await load(first.base, phase1Ids, 16, (acked) => {
      if (acked === 600) first.proc.kill('SIGKILL');
    });
    const acked1 = okIds(phase1);
    expect(acked1.length).toBeGreaterThanOrEqual(600);
    expect(acked1.length).toBeLessThan(phase1Ids.length); // the kill really cut the load short

    const second = await startChild(walDir, { USAGE_DEDUP_CHECK: 'replays' });
    const unanswered = phase1Ids.filter((id) => phase1.get(id) !== 200);
    const retries = [...acked1.slice(0, 200), ...unanswered.slice(0, 300)]; // client retries, same ids
    const fresh = Array.from({ length: 500 }, (_, i) => `p2-${i}-${randomUUID()}`);
    const phase2 = await load(second.base, [...fresh, ...retries], 16);
    expect(okIds(phase2).length).toBe(fresh.length + retries.length);
    const exited = new Promise((resolve) => second.proc.on('exit', resolve));
    second.proc.kill('SIGTERM'); // graceful: drains the WAL into ClickHouse
    await exited;

    const acked = new Set([...acked1, ...okIds(phase2)]);
    const attempted = new Set([...phase1Ids, ...fresh]);
    const from = Math.floor(Date.now() / 1000) - 3600;
    const [rows, totals] = await withClickHouse(async (ch) => [
      await ch.query<{ event_id: string }>(sql`SELECT DISTINCT event_id FROM usage_events_v1 WHERE tenant_id = ${tenantId} AND ts >= toDateTime(${from})`),
      await tenantTotals(ch, tenantId),
    ] as const);
    const billed = new Set(rows.map((r) => r.event_id));
    const missing = [...acked].filter((id) => !billed.has(id));
    expect(missing).toEqual([]);
    expect([...billed].filter((id) => !attempted.has(id))).toEqual([]);
    expect(totals.distinctEvents).toBe(billed.size);
    if (!isEmbeddedUrl(process.env.CLICKHOUSE_URL ?? '')) {
      // No event was inserted twice: the rollups (every insert counted) equal the distinct ids.
      expect(totals.rollupRequests).toEqual({ minute: billed.size, hourly: billed.size, daily: billed.size });
    } else {
      // Embedded, the SIGKILL also kills the engine, which can die after writing a batch to
      // usage_events_v1 and before its materialized views wrote the rollups: the raw table is exact
      // (above), the rollups may miss that batch (seen: 1344 of 1405). Never more than the events.
      // A known gap (clickhouse/README.md); a server finishes the insert whatever Tollgate does.
      for (const n of Object.values(totals.rollupRequests)) expect(n).toBeLessThanOrEqual(billed.size);
      expect(totals.rollupRequests.minute).toBeGreaterThan(0);
    }
  });
});
