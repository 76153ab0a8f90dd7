/**
 * ClickHouse unreachable (a TCP proxy the test cuts) under the real inference server in a child
 * process: the WAL holds every acknowledged request and each lands exactly once after the server
 * returns.
 */
// engine-matrix: server only — cuts a network connection between a Tollgate process and a ClickHouse server; the embedded engine lives inside the Tollgate process (its outages are flusher.test.ts's cut client)
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { load, okIds, startChild } from './crash-child.js';
import { directClickHouse, startTcpProxy, tempStateDir, tenantTotals, testConfig } from './helpers.js';

describe('ClickHouse server outage under the inference process', () => {
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
      const ch = directClickHouse();
      const totals = await tenantTotals(ch, tenant).finally(() => ch.close());
      expect(totals.distinctEvents).toBe(ok);
      expect(totals.rollupRequests).toEqual({ minute: ok, hourly: ok, daily: ok });
    } finally {
      await proxy.close();
    }
  });
});
