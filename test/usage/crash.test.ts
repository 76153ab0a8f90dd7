/**
 * The real inference server, metered by the real WAL sink, in a child process that is
 * SIGKILLed mid-load and restarted on the same WAL directory: every request that got a 200
 * is billed exactly once (and client retries of any id are billed once too).
 * "Billed once" is checked on the rollups, which count every row ever inserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { makeRepo } from '../inference/helpers.js';
import { directClickHouse, startTcpProxy, tempStateDir, tenantTotals, testConfig } from './helpers.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
let dist: string;
let repo: { dir: string; cleanup(): void };
let ch: ClickHouse;
const children = new Set<ChildProcess>();
const tenantId = randomUUID();
const keyId = randomUUID();
const secret = `crash_${randomUUID()}`;

beforeAll(async () => {
  dist = await tempStateDir('metering-dist');
  await promisify(execFile)(process.execPath, [path.join(fixtures, 'transpile.mjs'), dist]);
  repo = makeRepo(['mlp-demo']);
  ch = directClickHouse();
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  repo?.cleanup();
  await ch?.close();
});

async function startChild(walDir: string, env: Record<string, string> = {}, tenant = tenantId): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(process.execPath, [path.join(fixtures, 'inference-child.mjs')], {
    env: {
      ...process.env,
      DIST_DIR: dist,
      USAGE_WAL_DIR: walDir,
      TOLLGATE_MODEL_REPOSITORY: repo.dir,
      USAGE_FLUSH_INTERVAL_MS: '200',
      TEST_SECRET: secret,
      TEST_TENANT_ID: tenant,
      TEST_KEY_ID: keyId,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`child did not start: ${out}`)), 90_000);
    proc.stdout!.on('data', (d) => {
      out += String(d);
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
  });
  return { proc, base: `http://127.0.0.1:${port}` };
}

function inferBody(id: string): string {
  return JSON.stringify({ id, inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: Array.from({ length: 64 }, (_, i) => i / 64) }] });
}

/** Sends the ids with `concurrency` workers; returns the HTTP status per id (0 = no answer). */
async function load(base: string, ids: string[], concurrency: number, onAck?: (acked: number) => void): Promise<Map<string, number>> {
  const status = new Map<string, number>();
  let next = 0;
  let acked = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        const res = await fetch(`${base}/v2/models/mlp-demo/infer`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: inferBody(id) });
        await res.arrayBuffer();
        status.set(id, res.status);
        if (res.status === 200) onAck?.(++acked);
      } catch {
        status.set(id, 0);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return status;
}

const okIds = (m: Map<string, number>) => [...m].filter(([, s]) => s === 200).map(([id]) => id);

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
    const rows = await ch.query<{ event_id: string }>(
      sql`SELECT DISTINCT event_id FROM usage_events_v1 WHERE tenant_id = ${tenantId} AND ts >= toDateTime(${from})`,
    );
    const billed = new Set(rows.map((r) => r.event_id));
    const missing = [...acked].filter((id) => !billed.has(id));
    expect(missing).toEqual([]);
    expect([...billed].filter((id) => !attempted.has(id))).toEqual([]);
    const totals = await tenantTotals(ch, tenantId);
    // No event was inserted twice: the rollups (every insert counted) equal the distinct ids.
    expect(totals.distinctEvents).toBe(billed.size);
    expect(totals.rollupRequests).toEqual({ minute: billed.size, hourly: billed.size, daily: billed.size });
  });

  it('ClickHouse unreachable during a load of thousands of requests: every 200 lands exactly once after it returns', async () => {
    const tenant = randomUUID();
    const proxy = await startTcpProxy(new URL(testConfig().CLICKHOUSE_URL));
    try {
      const child = await startChild(await tempStateDir('down-wal'), { CLICKHOUSE_URL: proxy.url }, tenant);
      const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}-${randomUUID()}`);
      const before = await load(child.base, ids('before', 500), 16);
      proxy.setMode('down');
      const during = await load(child.base, ids('during', 2500), 16);
      proxy.setMode('pass');
      const after = await load(child.base, ids('after', 500), 16);
      const exited = new Promise((resolve) => child.proc.on('exit', resolve));
      child.proc.kill('SIGTERM');
      await exited;
      const ok = okIds(before).length + okIds(during).length + okIds(after).length;
      expect(ok).toBe(3500);
      const totals = await tenantTotals(ch, tenant);
      expect(totals.distinctEvents).toBe(ok);
      expect(totals.rollupRequests).toEqual({ minute: ok, hourly: ok, daily: ok });
    } finally {
      await proxy.close();
    }
  });
});
