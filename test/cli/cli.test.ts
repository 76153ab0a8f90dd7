/** The `tollgate` CLI as users run it: `node bin/tollgate.js ...` in a child process, against the per-run database. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyAuthenticator } from '../../src/keys/index.js';
import { closeFactories, factoryDeps, uniqueName } from '../factories.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/tollgate.js');

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// The folders main.ts imports from (its compiled closure).
const closureDirs = ['app', 'inference/src', ...['db', 'tenants', 'keys', 'plans', 'audit', 'config', 'shared', 'clickhouse', 'quotas', 'billing', 'anomalies', 'usage', 'idempotency', 'queue', 'alerts', 'invoices', 'identity'].map((d) => `src/${d}`)];

function newestSource(dir: string): number {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** bin/tollgate.js runs dist/: compile the CLI's import closure when dist is missing or older than src. */
function ensureBuilt(): Promise<void> {
  const main = path.join(root, 'dist/app/cli/main.js');
  if (existsSync(main) && statSync(main).mtimeMs >= Math.max(...closureDirs.map((d) => newestSource(path.join(root, d))))) return Promise.resolve();
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-cli-build-'));
  const tsconfig = path.join(dir, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(root, 'tsconfig.json'),
      compilerOptions: { outDir: path.join(root, 'dist'), rootDir: root, typeRoots: [path.join(root, 'node_modules/@types')] },
      files: [path.join(root, 'app/cli/main.ts')],
      include: [],
    }),
  );
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: root, timeout: 240_000 }, (err, stdout) => {
      rmSync(dir, { recursive: true, force: true });
      // Type errors elsewhere still emit; only a missing output is fatal here (tsc -p tsconfig.json is the type check).
      if (existsSync(main)) resolve();
      else reject(new Error(`CLI build failed: ${err?.message ?? ''}\n${stdout}`));
    });
  });
}

const { pools, config } = factoryDeps();

beforeAll(ensureBuilt, 240_000);
afterAll(closeFactories);

describe('tollgate CLI', () => {
  it('tenant create --json, then key create --json, gives a secret that authenticates to that tenant', async () => {
    const name = uniqueName('acme');
    const created = await run(['tenant', 'create', '--name', name, '--plan', 'starter', '--json']);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const lines = created.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const { tenantId } = JSON.parse(lines[0]!) as { tenantId: string };
    expect(tenantId).toMatch(/^[0-9a-f-]{36}$/);

    const key = await run(['key', 'create', '--tenant', tenantId, '--role', 'admin', '--json']);
    expect(key.code).toBe(0);
    const k = JSON.parse(key.stdout) as { keyId: string; secret: string; prefix: string };
    expect(k.secret).toMatch(/^tg_/);
    expect(k.prefix).toBe(k.secret.slice(3, 11));

    const auth = createApiKeyAuthenticator({ pools, redis: null, config });
    try {
      expect(await auth.authenticate(k.secret)).toEqual({ keyId: k.keyId, tenantId, role: 'admin', tenantStatus: 'active' });
    } finally {
      await auth.close();
    }
    const { rows } = await pools.owner.query("SELECT actor_type, action FROM audit_log WHERE tenant_id = $1 ORDER BY id", [tenantId]);
    expect(rows).toEqual([
      { actor_type: 'cli', action: 'tenant.create' },
      { actor_type: 'cli', action: 'api_key.create' },
    ]);


    const list = await run(['tenant', 'list', '--json']);
    expect(list.code).toBe(0);
    const { tenants } = JSON.parse(list.stdout) as { tenants: Array<{ id: string; name: string; planCode: string }> };
    expect(tenants.find((t) => t.id === tenantId)).toMatchObject({ name, planCode: 'starter' });

    const human = await run(['key', 'list', '--tenant', tenantId]);
    expect(human.stdout).toContain(k.keyId);
    expect(human.stdout).not.toContain(k.secret);

    const suspended = await run(['tenant', 'suspend', '--tenant', tenantId, '--json']);
    expect(suspended).toMatchObject({ code: 0 });
    expect(JSON.parse(suspended.stdout)).toEqual({ tenantId, status: 'suspended' });

    const revoked = await run(['key', 'revoke', '--tenant', tenantId, '--key', k.keyId]);
    expect(revoked).toMatchObject({ code: 0 });
    expect(revoked.stdout).toContain(`revoked key ${k.keyId}`);
    const row = await pools.owner.query('SELECT revoked_at FROM api_keys WHERE id = $1', [k.keyId]);
    expect(row.rows[0].revoked_at).toBeInstanceOf(Date);
  });

  it('models prepare builds the generated models into a repository once, byte-identical to the shipped ones', async () => {
    const repo = mkdtempSync(path.join(tmpdir(), 'tollgate-cli-models-'));
    try {
      const first = await run(['models', 'prepare', '--repository', repo, '--json']);
      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(first.stdout)).toEqual({ repository: repo, models: [{ name: 'mlp-demo', built: true }, { name: 'mlp-large', built: true }] });
      const second = await run(['models', 'prepare', '--repository', repo]);
      expect(second.stdout).toContain(`mlp-demo: up to date (${path.join(repo, 'mlp-demo')})`);
      // npm test prepared the shipped repository with the same code: same seed, same bytes.
      const shipped = path.join(root, 'inference/models/mlp-demo/1/model.onnx');
      expect(readFileSync(path.join(repo, 'mlp-demo/1/model.onnx')).equals(readFileSync(shipped))).toBe(true);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('key create past API_KEYS_MAX_PER_TENANT: one clear line naming the limit, exit code 1, no key', async () => {
    const created = await run(['tenant', 'create', '--name', uniqueName('full'), '--plan', 'free', '--json']);
    const { tenantId } = JSON.parse(created.stdout) as { tenantId: string };
    const limit = { API_KEYS_MAX_PER_TENANT: '1' };
    expect((await run(['key', 'create', '--tenant', tenantId, '--json'], limit)).code).toBe(0);
    const refused = await run(['key', 'create', '--tenant', tenantId, '--json'], limit);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe('error: the tenant already has 1 live API keys and may hold at most 1 (API_KEYS_MAX_PER_TENANT=1); revoke keys it no longer uses first\n');
    const { rows } = await pools.owner.query('SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1', [tenantId]);
    expect(rows[0].n).toBe(1);
  });

  it('tenant create --billing-start backdates the first plan; usage import --json imports history once, refuses a bad file whole', async () => {
    const start = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const created = await run(['tenant', 'create', '--name', uniqueName('hist'), '--plan', 'starter', '--billing-start', start, '--json']);
    expect(created.code).toBe(0);
    const { tenantId } = JSON.parse(created.stdout) as { tenantId: string };
    const { rows } = await pools.owner.query('SELECT effective_from FROM tenant_plans WHERE tenant_id = $1', [tenantId]);
    expect((rows[0].effective_from as Date).toISOString()).toBe(start);

    const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-cli-import-'));
    try {
      const file = path.join(dir, 'usage.jsonl');
      const at = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
      writeFileSync(file, [{ id: 'h-1', ts: at(30), model: 'mlp-demo', items: 4 }, { id: 'h-2', ts: at(2), model: 'mlp-demo', items: 1, computeMs: 3 }].map((l) => JSON.stringify(l)).join('\n') + '\n');
      const first = await run(['usage', 'import', '--tenant', tenantId, '--file', file, '--json']);
      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(first.stdout)).toEqual({ imported: 2, duplicates: 0, rejected: [] });
      const again = await run(['usage', 'import', '--tenant', tenantId, '--file', file, '--json']);
      expect(JSON.parse(again.stdout)).toEqual({ imported: 0, duplicates: 2, rejected: [] });

      const bad = path.join(dir, 'bad.jsonl');
      writeFileSync(bad, `${JSON.stringify({ id: 'h-3', ts: at(1), model: 'mlp-demo', items: 1 })}\n${JSON.stringify({ id: 'h-4', ts: at(50), model: 'mlp-demo', items: 1 })}\n`);
      const refused = await run(['usage', 'import', '--tenant', tenantId, '--file', bad, '--json']);
      expect(refused.code).toBe(1);
      const out = JSON.parse(refused.stdout) as { imported: number; rejected: Array<{ line: number; error: string }> };
      expect(out).toMatchObject({ imported: 0, duplicates: 0, rejected: [{ line: 2 }] });
      expect(out.rejected[0]!.error).toMatch(/before the tenant's first plan/);
      expect(refused.stderr).toMatch(/^error: 1 bad line\(s\) in .*bad\.jsonl; nothing was imported\n$/);
      const human = await run(['usage', 'import', '--tenant', tenantId, '--file', path.join(dir, 'missing.jsonl')]);
      expect(human).toMatchObject({ code: 1, stdout: '' });
      expect(human.stderr).toMatch(/^error: file not found: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('migrate is idempotent: a second run applies nothing', async () => {
    const first = await run(['migrate', '--json']);
    expect(first.code).toBe(0);
    const second = await run(['migrate', '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ postgres: { applied: [] }, clickhouse: { applied: [] } });
  });

  it('expected errors: one clear line, exit code 1, no stack trace', async () => {
    const dup = uniqueName();
    expect((await run(['tenant', 'create', '--name', dup, '--plan', 'free'])).code).toBe(0);
    const [badPlan, again, missing, badRole, noTenant, badServe] = await Promise.all([
      run(['tenant', 'create', '--name', uniqueName(), '--plan', 'platinum']),
      run(['tenant', 'create', '--name', dup, '--plan', 'free']),
      run(['key', 'create']),
      run(['key', 'create', '--tenant', '00000000-0000-4000-8000-000000000000', '--role', 'root']),
      run(['key', 'create', '--tenant', '00000000-0000-4000-8000-000000000000', '--json']),
      run(['serve', '--roles', 'inference,bogus']),
    ]);
    expect(badPlan).toMatchObject({ code: 1, stderr: 'error: unknown plan "platinum"\n' });
    expect(again).toMatchObject({ code: 1, stderr: `error: a tenant named ${dup} already exists\n` });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("required option '--tenant <id>' not specified");
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toMatch(/argument 'root' is invalid/);
    expect(noTenant).toMatchObject({ code: 1, stdout: '', stderr: 'error: tenant not found\n' });
    expect(badServe.code).toBe(1);
    expect(badServe.stderr).toContain('unknown role(s) "bogus"');
    for (const r of [badPlan, again, missing, badRole, noTenant, badServe]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--help works on commands and subcommands', async () => {
    const cases = [['--help'], ['tenant', 'create', '--help'], ['key', 'revoke', '--help'], ['serve', '--help']];
    const results = await Promise.all(cases.map((args) => run(args)));
    results.forEach((r, i) => {
      expect({ args: cases[i], code: r.code }).toEqual({ args: cases[i], code: 0 });
      expect(r.stdout).toContain('Usage: tollgate');
    });
  });
});
