/**
 * Two real processes (test/quotas/harness.mjs running the compiled module) share Redis:
 * together they admit exactly the hard quota, never more than the rate limit allows, every
 * simultaneous burst a plan allows (split across both), and a client pool as large as the
 * concurrency cap, alternating between them, is never refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { closeFactories, createTenantWithKey } from '../factories.js';
import { harness, override, planBounds, testConfig } from './helpers.js';

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

/** A replica in command mode (harness.mjs MODE=serve): `admit` holds its tickets until `release`. */
interface ServeReplica {
  admit(tenantId: string, keyId: string, n: number): Promise<{ id: string; statuses: number[]; remaining: (string | null)[]; limits: (string | null)[] }>;
  release(id: string): Promise<void>;
}

let commandSeq = 0;
async function startServeReplica(): Promise<ServeReplica> {
  const child = spawn(process.execPath, [path.join(root, 'test/quotas/harness.mjs')], { env: { ...process.env, QUOTAS_DIST: dist, MODE: 'serve' }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const waiting = new Map<string, (reply: any) => void>();
  let onReady: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  createInterface({ input: child.stdout }).on('line', (l) => {
    if (l === 'ready') return onReady();
    const reply = JSON.parse(l) as { id: string };
    waiting.get(reply.id)?.(reply);
    waiting.delete(reply.id);
  });
  child.on('exit', (code) => {
    children.delete(child);
    for (const w of waiting.values()) w({ error: `replica exited ${code}: ${stderr}` });
  });
  const call = (line: string, id: string) =>
    new Promise<any>((resolve, reject) => {
      waiting.set(id, (reply) => (reply.error ? reject(new Error(reply.error)) : resolve(reply)));
      child.stdin.write(line + '\n');
    });
  await ready;
  return {
    admit: (tenantId, keyId, n) => {
      const id = `c${++commandSeq}`;
      return call(`admit ${id} ${tenantId} ${keyId} ${n}`, id);
    },
    release: async (id) => void (await call(`release ${id}`, id)),
  };
}

describe('two processes: simultaneous requests inside the burst', () => {
  let replicas: ServeReplica[];
  beforeAll(async () => {
    replicas = await Promise.all([startServeReplica(), startServeReplica()]);
  }, 60_000);

  for (const code of ['free', 'starter', 'pro']) {
    it(`${code}: N simultaneous requests on a fresh tenant, split across both, are all admitted for every N up to min(burst, concurrency)`, async () => {
      const { max } = await planBounds(code);
      for (let n = 1; n <= max; n++) {
        const { tenant, key } = await createTenantWithKey({ plan: code });
        const half = Math.ceil(n / 2);
        // Both halves are in flight together: the concurrency cap counts all n.
        const replies = await Promise.all([replicas[0]!.admit(tenant.id, key.keyId, half), replicas[1]!.admit(tenant.id, key.keyId, n - half)]);
        expect({ n, statuses: replies.flatMap((r) => r.statuses) }).toEqual({ n, statuses: Array(n).fill(200) });
        await Promise.all(replies.map((r, i) => replicas[i]!.release(r.id)));
      }
    });
  }

  it('a client pool as large as the concurrency cap, alternating between replicas, is never refused', async () => {
    const { tenant, key } = await createTenantWithKey({ plan: 'starter' });
    const { concurrency } = await planBounds('starter');
    await override({ tenantId: tenant.id, meter: 'rate', limit: 1_000_000 }); // only the concurrency cap matters
    await override({ tenantId: tenant.id, meter: 'burst', limit: 1_000_000 });
    const refusals: string[] = [];
    let admitted = 0;
    // Each worker sends its next request once the previous one finished, to the other replica:
    // finished requests' slots stay with the replica that ran them, and the other one needs them.
    const worker = async (w: number) => {
      for (let i = 0; i < 15; i++) {
        const r = replicas[(w + i) % 2]!;
        const reply = await r.admit(tenant.id, key.keyId, 1);
        if (reply.statuses[0] === 200) admitted++;
        else refusals.push(`${reply.statuses[0]} ${reply.limits[0]}`);
        await r.release(reply.id);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    expect(refusals).toEqual([]);
    expect(admitted).toBe(concurrency * 15);
    // The cap still holds: with the pool's requests all in flight, one more is refused.
    const full = await Promise.all([replicas[0]!.admit(tenant.id, key.keyId, concurrency / 2), replicas[1]!.admit(tenant.id, key.keyId, concurrency / 2)]);
    expect(full.flatMap((r) => r.statuses)).toEqual(Array(concurrency).fill(200));
    const extra = await replicas[0]!.admit(tenant.id, key.keyId, 1);
    expect([extra.statuses[0], extra.limits[0]]).toEqual([429, 'concurrency']);
    await Promise.all([...full.map((r, i) => replicas[i]!.release(r.id)), replicas[0]!.release(extra.id)]);
  });
});
