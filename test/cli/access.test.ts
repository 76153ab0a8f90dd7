/**
 * `tollgate member add|remove|list`, `tollgate operator add|remove|list` and `tollgate token revoke`
 * as users run them (node bin/tollgate.js in a child process, against the per-run database):
 * bad input is a one-line error with exit code 1; every change is audited.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { withPlatform } from '../../src/db/index.js';
import { closeFactories, createTenant, factoryDeps, uniqueName } from '../factories.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/tollgate.js');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent' }, timeout: 240_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

afterAll(() => closeFactories());

async function audit(targetId: string): Promise<string[]> {
  return withPlatform(factoryDeps().pools.app, async (c) => (await c.query('SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id', [targetId])).rows.map((r) => String(r.action)));
}

describe('tollgate member / operator / token', () => {
  it('adds a new user by e-mail, changes the role, lists, removes; all audited', async () => {
    const t = await createTenant();
    const email = `${uniqueName('cli-user')}@example.test`;
    const added = await run(['member', 'add', '--tenant', t.id, '--user', email, '--role', 'finance', '--name', 'Fay', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const m = JSON.parse(added.stdout);
    expect(m).toMatchObject({ tenantId: t.id, email, name: 'Fay', role: 'finance' });
    expect((await run(['member', 'add', '--tenant', t.id, '--user', m.userId, '--role', 'admin'])).stdout).toContain('is admin of tenant');
    const list = JSON.parse((await run(['member', 'list', '--tenant', t.id, '--json'])).stdout);
    expect(list.members.map((x: { email: string; role: string }) => [x.email, x.role])).toEqual([[email, 'admin']]);
    expect((await run(['member', 'remove', '--tenant', t.id, '--user', email, '--json'])).code).toBe(0);
    expect(JSON.parse((await run(['member', 'list', '--tenant', t.id, '--json'])).stdout).members).toEqual([]);
    expect(await audit(m.userId)).toEqual(['member.add', 'member.role', 'member.remove']);
  }, 300_000);

  it('refuses bad input with a one-line error and exit code 1', async () => {
    const t = await createTenant();
    const platformRole = await run(['member', 'add', '--tenant', t.id, '--user', 'x@example.test', '--role', 'platform']);
    expect(platformRole.code).toBe(1);
    expect(platformRole.stderr).toMatch(/platform/);
    for (const args of [
      ['member', 'add', '--tenant', randomUUID(), '--user', 'x@example.test'],
      ['member', 'add', '--tenant', t.id, '--user', 'not an email'],
      ['member', 'remove', '--tenant', t.id, '--user', 'nobody-here@example.test'],
      ['operator', 'remove', '--user', randomUUID()],
    ]) {
      const r = await run(args);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 1]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: /);
    }
  }, 300_000);

  it('operators: add, list, remove; token revoke is idempotent', async () => {
    const email = `${uniqueName('cli-op')}@example.test`;
    const op = JSON.parse((await run(['operator', 'add', '--user', email, '--json'])).stdout);
    expect(op).toMatchObject({ email, addedBy: expect.stringMatching(/^cli:/) });
    expect(JSON.parse((await run(['operator', 'list', '--json'])).stdout).operators.map((o: { email: string }) => o.email)).toContain(email);
    expect((await run(['operator', 'remove', '--user', email])).code).toBe(0);
    expect(JSON.parse((await run(['operator', 'list', '--json'])).stdout).operators.map((o: { email: string }) => o.email)).not.toContain(email);
    const jti = randomUUID();
    const first = JSON.parse((await run(['token', 'revoke', '--jti', jti, '--reason', 'test', '--json'])).stdout);
    const again = JSON.parse((await run(['token', 'revoke', '--jti', jti, '--json'])).stdout);
    expect(again.revokedAt).toBe(first.revokedAt);
    expect(await audit(jti)).toEqual(['jwt.revoke']);
    expect(await audit(op.userId)).toEqual(['platform_operator.add', 'platform_operator.remove']);
  }, 300_000);
});
