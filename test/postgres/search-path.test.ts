/**
 * The one SECURITY DEFINER function, auth_api_key, runs with its owner's rights. Postgres searches
 * pg_temp *first* when a function's search_path does not name it, so a session of the app role
 * could create temporary tables called api_keys and tenants and have the function authenticate
 * a hash of its choosing as any tenant's admin. With pg_temp last the temporary tables are ignored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { closeFactories, createApiKey, createTenant, factoryDeps } from '../factories.js';

const { pools } = factoryDeps();
afterAll(closeFactories);

describe('auth_api_key and temporary tables of the app role', () => {
  it('ignores temp tables that shadow api_keys and tenants; real keys still authenticate', async () => {
    const victim = await createTenant();
    const real = await createApiKey({ tenantId: victim.id, role: 'member' });
    const forged = createHash('sha256').update(randomBytes(16)).digest('hex');
    const c = await pools.app.connect();
    try {
      const { rows: me } = await c.query<{ rolsuper: boolean; rolbypassrls: boolean }>('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user');
      expect(me[0]).toEqual({ rolsuper: false, rolbypassrls: false });
      await c.query('BEGIN');
      // The attack: look-alike temp tables holding a forged admin key for the victim tenant.
      await c.query('CREATE TEMP TABLE api_keys (id uuid, tenant_id uuid, role text, hash text, revoked_at timestamptz, expires_at timestamptz) ON COMMIT DROP');
      await c.query('CREATE TEMP TABLE tenants (id uuid, status text) ON COMMIT DROP');
      await c.query("INSERT INTO api_keys VALUES (gen_random_uuid(), $1, 'admin', $2, NULL, NULL)", [victim.id, forged]);
      await c.query("INSERT INTO tenants VALUES ($1, 'active')", [victim.id]);
      // The temp tables really do shadow the real ones for the session's own unqualified queries.
      expect((await c.query('SELECT count(*)::int AS n FROM api_keys')).rows[0].n).toBe(1);

      const attack = await c.query('SELECT * FROM auth_api_key($1)', [forged]);
      expect(attack.rows).toEqual([]);
      const honest = await c.query('SELECT key_id, tenant_id, role FROM auth_api_key($1)', [createHash('sha256').update(real.secret).digest('hex')]);
      expect(honest.rows).toEqual([{ key_id: real.keyId, tenant_id: victim.id, role: 'member' }]);
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
  });

  it('every SECURITY DEFINER function in the schema pins search_path with pg_temp last', async () => {
    const { rows } = await pools.owner.query<{ name: string; config: string[] | null }>(
      `SELECT p.proname AS name, p.proconfig AS config FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'public' AND p.prosecdef ORDER BY 1`,
    );
    expect(rows.map((r) => r.name)).toContain('auth_api_key');
    for (const r of rows) {
      const path = (r.config ?? []).find((s) => s.startsWith('search_path='));
      expect(path, r.name).toBeDefined();
      expect(path!.split('=')[1]!.split(',').map((s) => s.trim()).at(-1), r.name).toBe('pg_temp');
    }
  });
});
