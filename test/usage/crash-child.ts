/**
 * The metering crash tests' child: the real inference server with the real WAL sink, built from
 * this checkout (fixtures/transpile.mjs) and started as its own process, plus a load generator.
 * Shared by crash.test.ts (SIGKILL, both ClickHouse engines) and crash-outage.test.ts.
 */
import { afterAll, beforeAll } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeRepo } from '../inference/helpers.js';
import { tempStateDir } from './helpers.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
let dist: string;
let repo: { dir: string; cleanup(): void };
const children = new Set<ChildProcess>();
export const tenantId = randomUUID();
const keyId = randomUUID();
const secret = `crash_${randomUUID()}`;

beforeAll(async () => {
  dist = await tempStateDir('metering-dist');
  await promisify(execFile)(process.execPath, [path.join(fixtures, 'transpile.mjs'), dist]);
  repo = makeRepo(['mlp-demo']);
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  repo?.cleanup();
});

export async function startChild(walDir: string, env: Record<string, string> = {}, tenant = tenantId): Promise<{ proc: ChildProcess; base: string }> {
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
export async function load(base: string, ids: string[], concurrency: number, onAck?: (acked: number) => void): Promise<Map<string, number>> {
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

export const okIds = (m: Map<string, number>) => [...m].filter(([, s]) => s === 200).map(([id]) => id);

