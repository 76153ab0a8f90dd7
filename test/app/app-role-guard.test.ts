/**
 * Row-level security does not apply to superusers or BYPASSRLS roles: a stack whose app
 * connection is one of those refuses to start, naming the role, before any role listens.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startStack } from '../../app/roles.js';
import { assertRestrictedAppRole, UnsafeAppRoleError } from '../../src/db/index.js';
import { closeFactories, factoryDeps } from '../factories.js';

const { config, pools } = factoryDeps();
const bypassRole = `tg_bypass_${randomBytes(4).toString('hex')}`;

afterAll(async () => {
  await pools.owner.query(`DROP ROLE IF EXISTS ${bypassRole}`);
  await closeFactories();
});

function appUrlAs(user: string): string {
  const url = new URL(config.DATABASE_URL);
  url.username = user;
  url.password = '';
  return url.toString();
}

describe('the app database role at start-up', () => {
  it('refuses a superuser app connection, naming the role', async () => {
    const superuser = decodeURIComponent(new URL(config.DATABASE_URL).username) || 'postgres';
    const { rows } = await pools.owner.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
    expect(rows[0]!.rolsuper).toBe(true); // the test's owner URL is the superuser the attack would use
    const attempt = startStack({ config: loadConfig({ ...process.env, DATABASE_APP_URL: appUrlAs(superuser) }), roles: ['api'], ports: { api: 0 } });
    await expect(attempt).rejects.toBeInstanceOf(UnsafeAppRoleError);
    await expect(attempt).rejects.toThrow(`the app database role "${superuser}" has SUPERUSER`);
  });

  it('refuses a NOSUPERUSER role with BYPASSRLS', async () => {
    await pools.owner.query(`CREATE ROLE ${bypassRole} LOGIN NOSUPERUSER BYPASSRLS`);
    const attempt = startStack({ config: loadConfig({ ...process.env, DATABASE_APP_URL: appUrlAs(bypassRole) }), roles: ['api'], ports: { api: 0 } });
    await expect(attempt).rejects.toThrow(`the app database role "${bypassRole}" has BYPASSRLS: row-level security would not apply to it`);
  });

  it('accepts the migrated app role (NOSUPERUSER NOBYPASSRLS)', async () => {
    await expect(assertRestrictedAppRole(pools.app)).resolves.toBeUndefined();
  });
});
