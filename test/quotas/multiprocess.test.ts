/**
 * Two real processes (test/quotas/harness.mjs running the compiled module) share Redis:
 * together they admit exactly the hard quota, and never more than the rate limit allows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { closeFactories, createTenantWithKey } from '../factories.js';
import { harness, override, testConfig } from './helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const dist = path.join(path.resolve(root, testConfig().TOLLGATE_STATE_DIR), 'quotas-dist');
const h = harness();
const children = new Set<ChildProcessWithoutNullStreams>();

beforeAll(() => {
  // Transpile src/ (TypeScript -> ESM, no type check: tsc checks the same files) into a private
  // folder under the run's state dir (not the shared dist/), for the child processes.
  const options = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, experimentalDecorators: true, emitDecoratorMetadata: true, esModuleInterop: true };
  for (const f of readdirSync(path.join(root, 'src'), { recursive: true }) as string[]) {
    if (!f.endsWith('.ts') || f.endsWith('.d.ts')) continue;
    const { outputText } = ts.transpileModule(readFileSync(path.join(root, 'src', f), 'utf8'), { compilerOptions: options, fileName: f });
    const target = path.join(dist, 'src', f.replace(/\.ts$/, '.js'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
}, 120_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await h.close();
  await closeFactories();
});

interface Counts {
  admitted: number;
  quota: number;
  rate: number;
  other: number;
}

function startReplica(env: Record<string, string>): { child: ChildProcessWithoutNullStreams; ready: Promise<number>; result: Promise<Counts> } {
  const child = spawn(process.execPath, [path.join(root, 'test/quotas/harness.mjs')], { env: { ...process.env, QUOTAS_DIST: dist, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const lines = createInterface({ input: child.stdout });
  let onReady: (at: number) => void;
  // Resolves to when the replica started its warm-up admit (which may take the bucket's first tokens).
  const ready = new Promise<number>((r) => (onReady = r));
  const result = new Promise<Counts>((resolve, reject) => {
    lines.on('line', (l) => {
      if (l.startsWith('ready ')) onReady(Number(l.slice('ready '.length)));
      else if (l.startsWith('{')) resolve(JSON.parse(l) as Counts);
    });
    child.on('exit', (code) => {
      children.delete(child);
      if (code !== 0) reject(new Error(`replica exited ${code}: ${stderr}`));
    });
  });
  return { child, ready, result };
}

async function runPair(env: Record<string, string>): Promise<{ counts: Counts[]; elapsedMs: number }> {
  const replicas = [startReplica(env), startReplica(env)];
  // The shared bucket refills from its first token (a replica's warm-up), not from "go".
  const start = Math.min(...(await Promise.all(replicas.map((r) => r.ready))));
  for (const r of replicas) r.child.stdin.write('go\n');
  const counts = await Promise.all(replicas.map((r) => r.result));
  return { counts, elapsedMs: Date.now() - start };
}

describe('two processes sharing Redis', () => {
  it('admit exactly N units of a hard quota together: the N+1th is refused', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const n = 700;
    await override({ tenantId: tenant.id, meter: 'requests', limit: n });
    await override({ tenantId: tenant.id, meter: 'rate', limit: 1_000_000 });
    await override({ tenantId: tenant.id, meter: 'burst', limit: 1_000_000 });
    await override({ tenantId: tenant.id, meter: 'concurrency', limit: 1000 });
    const { counts } = await runPair({ TENANT_ID: tenant.id, KEY_ID: key.keyId, MODE: 'quota', PARALLEL: '8' });
    expect(counts[0]!.admitted + counts[1]!.admitted).toBe(n);
    expect(counts.every((c) => c.quota >= 1 && c.other === 0)).toBe(true);
    // Both replicas took part (the lease shrinks as the quota runs out, so neither hoards it).
    expect(Math.min(counts[0]!.admitted, counts[1]!.admitted)).toBeGreaterThan(0);
    const keys = await h.redis.keys(`${testConfig().REDIS_PREFIX}:quota:q:t:${tenant.id}:requests:*`);
    expect(Number(await h.redis.hget(keys[0]!, 'total'))).toBe(n);
  });

  it('never admit more than burst + rps × t together', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const rps = 300;
    const burst = 60;
    await override({ tenantId: tenant.id, meter: 'rate', limit: rps });
    await override({ tenantId: tenant.id, meter: 'burst', limit: burst });
    const { counts, elapsedMs } = await runPair({ TENANT_ID: tenant.id, KEY_ID: key.keyId, MODE: 'rate', PARALLEL: '4', DURATION_MS: '1200' });
    const admitted = counts[0]!.admitted + counts[1]!.admitted;
    // The warm-up request of each replica took a token too.
    expect(admitted + 2).toBeLessThanOrEqual(burst + Math.ceil((rps * elapsedMs) / 1000));
    expect(counts[0]!.rate + counts[1]!.rate).toBeGreaterThan(0);
    expect(admitted).toBeGreaterThan(burst);
  });
});
