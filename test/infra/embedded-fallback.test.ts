/**
 * scripts/services.mjs and the embedded ClickHouse: `CLICKHOUSE_URL=chdb:<path>` needs no server
 * (none is probed or started, the setting is printed back unchanged), and the fallback `npm run up`
 * asks for (TOLLGATE_CLICKHOUSE_FALLBACK=embedded) picks chdb:<state>/chdb only when the chdb
 * package and its engine are installed, with one line saying why.
 */
// engine-matrix: server only — about scripts/services.mjs choosing the embedded engine; it opens no engine itself
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- plain ESM script without types
import { chdbInstalled, embeddedFallback } from '../../scripts/services/embedded.mjs';

const root = path.resolve(import.meta.dirname, '../..');

function services(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'scripts/services.mjs'), ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('services.mjs with the embedded ClickHouse', () => {
  it('up with CLICKHOUSE_URL=chdb:<path> checks no ClickHouse server and prints the setting back', async () => {
    const state = await mkdtemp(path.join(os.tmpdir(), 'tollgate-chdb-services-'));
    try {
      const run = await services(['up'], { CLICKHOUSE_URL: 'chdb:.state/chdb-try', TOLLGATE_STATE_DIR: state, DATABASE_URL: process.env.DATABASE_URL!, REDIS_URL: process.env.REDIS_URL! });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('CLICKHOUSE_URL=chdb:.state/chdb-try\n');
      expect(run.stderr).toContain('clickhouse: embedded engine (chdb:.state/chdb-try), no server needed');
      expect(run.stderr).not.toMatch(/clickhouse: nothing at|starting one/);
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  });

  it('falls back to chdb:<state>/chdb only when asked and when chdb and its engine are installed', () => {
    const reason = 'ClickHouse is not installed and nothing answers at 127.0.0.1:8123. Install it with:\n  sudo …';
    expect(chdbInstalled(root)).toBe(true);
    const fb = embeddedFallback({ env: { TOLLGATE_CLICKHOUSE_FALLBACK: 'embedded' }, root, stateBase: '/srv/tg/.state', reason });
    expect(fb.url).toBe('chdb:/srv/tg/.state/chdb');
    expect(fb.message).toBe(
      'clickhouse: no server (ClickHouse is not installed and nothing answers at 127.0.0.1:8123. Install it with:); using the embedded ClickHouse instead: CLICKHOUSE_URL=chdb:/srv/tg/.state/chdb (one process; Grafana needs a server)',
    );
    expect(fb.message).not.toContain('\n');
    // Not asked for (tests, deployments): the missing server stays an error.
    expect(embeddedFallback({ env: {}, root, stateBase: '/x', reason })).toBeNull();
    // A checkout without the optional package: no fallback either.
    expect(chdbInstalled(os.tmpdir())).toBe(false);
    expect(embeddedFallback({ env: { TOLLGATE_CLICKHOUSE_FALLBACK: 'embedded' }, root: os.tmpdir(), stateBase: '/x', reason })).toBeNull();
  });
});
