/**
 * `tollgate status` against a real stack (inference + api + worker in this process, real
 * Postgres/ClickHouse/Redis), then with no role running: one JSON object, exit 0 both times.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { withTenant } from '../../src/db/index.js';
import { startStack, type RunningStack } from '../../app/roles.js';
import { runCli } from '../../app/cli/program.js';
import { humanStatus } from '../../app/cli/status-command.js';
import type { StatusReport } from '../../app/status.js';
import { closeFactories, createTenantWithKey, factoryDeps } from '../factories.js';

const root = path.resolve(import.meta.dirname, '../..');
let stack: RunningStack | undefined;
let urls: Record<string, string>;
let closedPort: string; // a port nothing listens on

async function status(args: string[] = []): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'tollgate', 'status', ...args], { out: (t) => out.push(t), err: (t) => err.push(t), env: process.env });
  return { code, out, err };
}

beforeAll(async () => {
  closedPort = await new Promise<string>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
  const config = loadConfig({ ...process.env, USAGE_FLUSH_INTERVAL_MS: '200' });
  stack = await startStack({ config, roles: ['inference', 'api', 'worker'], ports: { inference: 0, api: 0 } });
  urls = Object.fromEntries(stack.roles.filter((r) => r.url).map((r) => [r.role, new URL(r.url!).origin]));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await closeFactories();
});

describe('tollgate status', () => {
  it('reports roles with versions, services, the WAL, queues, models with their device and open alerts', async () => {
    const { tenant, key } = await createTenantWithKey({ role: 'admin' });
    const res = await fetch(`${urls.inference}/v2/models/mlp-demo/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: Array.from({ length: 64 }, (_, i) => i / 64) }] }),
    });
    expect(res.status).toBe(200);
    await withTenant(factoryDeps().pools.app, { tenantId: tenant.id }, (c) =>
      c.query(`INSERT INTO alerts (tenant_id, kind, metric, severity, dedup_key, title, details) VALUES ($1, 'anomaly', 'requests', 'critical', $2, 'status test', '{}')`, [tenant.id, `status:${Date.now()}`]),
    );

    let report!: StatusReport;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await status(['--json', '--inference-url', urls.inference!, '--api-url', urls.api!, '--otlp-url', closedPort]);
      expect(r.code).toBe(0);
      expect(r.out).toHaveLength(1); // exactly one JSON object
      report = JSON.parse(r.out[0]!) as StatusReport;
      const wal = report.wal as { backlogBytes?: number; lastConfirmedAt?: string | null };
      if ((wal.backlogBytes === 0 && wal.lastConfirmedAt) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const role = (name: string) => report.roles.find((x) => x.role === name)!;
    expect(role('inference')).toMatchObject({ up: true, version: '0.1.0', detail: 'ready' });
    expect(role('api')).toMatchObject({ up: true, version: '0.1.0' });
    expect(role('worker').up).toBe(true);
    expect(role('otlp')).toMatchObject({ up: false, detail: 'ECONNREFUSED' });
    expect(report.services.map((s) => [s.name, s.ok])).toEqual([['postgres', true], ['clickhouse', true], ['redis', true]]);
    expect(report.services.every((s) => s.version && s.latencyMs !== null)).toBe(true);
    // The usage of the request above went through this host's WAL and was confirmed in ClickHouse.
    expect(report.wal).toMatchObject({ backlogBytes: 0, flusherLagMs: 0 });
    expect((report.wal as { id: string }).id).toMatch(/^[0-9a-f-]{36}$/);
    expect((report.wal as { lastConfirmedAt: string }).lastConfirmedAt).not.toBeNull();
    expect(Array.isArray(report.jobQueues) && report.jobQueues.map((q) => q.name).sort()).toEqual(expect.arrayContaining(['quotas.reconcile', 'usage.retention']));
    expect(report.models).toEqual(expect.arrayContaining([expect.objectContaining({ model: 'mlp-demo', device: 'cpu', pending: 0 })]));
    expect((report.models as Array<{ instances: number }>).every((m) => m.instances >= 1)).toBe(true);
    const alerts = report.alerts as { open: number; bySeverity: Record<string, number> };
    expect(alerts.open).toBeGreaterThanOrEqual(1);
    expect(alerts.bySeverity.critical).toBeGreaterThanOrEqual(1);

    const table = humanStatus(report);
    expect(table).toMatch(/inference\s+up\s+0\.1\.0/);
    expect(table).toMatch(/mlp-demo\s+\S+\s+cpu/);
  });

  it('still prints one JSON object and exits 0 when no role runs (through bin/tollgate.js)', async () => {
    await stack?.stop();
    stack = undefined;
    const r = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [path.join(root, 'bin/tollgate.js'), 'status', '--json', '--inference-url', urls.inference!, '--api-url', urls.api!, '--otlp-url', closedPort], { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent' }, timeout: 60_000 }, (err, stdout) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }),
      );
    });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as StatusReport; // the whole of stdout is one object
    expect(report.roles.map((x) => [x.role, x.up])).toEqual([['inference', false], ['api', false], ['worker', false], ['otlp', false]]);
    expect(report.models).toEqual({ error: 'inference role not reachable' });
    expect(report.services.every((s) => s.ok)).toBe(true);
  });

  it('refuses a bad --timeout with a one-line error', async () => {
    const r = await status(['--timeout', 'soon']);
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toMatch(/--timeout must be an integer/);
  });
});
