/**
 * Row-level security as the second wall: the app role (NOSUPERUSER, NOBYPASSRLS) sees and writes
 * only the rows of the tenant set for its transaction, on every table that has a tenant_id.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPlatform, withTenant } from '../../src/db/index.js';
import { closeFactories, createApiKey, createTenant, createUser, createWebhookEndpoint, factoryDeps } from '../factories.js';

const { pools, config } = factoryDeps();
let A: string;
let B: string;
let tenantTables: string[];

/** One row in every tenant-owned table this module knows, written by the table owner (bypassing RLS). */
async function seedTenantRows(tenantId: string): Promise<void> {
  const o = pools.owner;
  await createUser({ tenantId, role: 'admin' });
  await createWebhookEndpoint({ tenantId });
  const key = await createApiKey({ tenantId });
  await o.query("INSERT INTO quota_overrides (tenant_id, api_key_id, meter, limit_value) VALUES ($1, $2, 'rate', 3)", [tenantId, key.keyId]);
  const { rows } = await o.query(
    `INSERT INTO invoices (tenant_id, period_start, period_end) VALUES ($1, '2026-01-01', '2026-02-01') RETURNING id`,
    [tenantId],
  );
  const invoiceId = rows[0].id;
  await o.query("INSERT INTO invoice_lines (invoice_id, tenant_id, meter, model, quantity, amount_micros) VALUES ($1, $2, 'requests', 'standard', 10, 100)", [invoiceId, tenantId]);
  await o.query("INSERT INTO credit_notes (invoice_id, tenant_id, number, amount_micros, reason) VALUES ($1, $2, $3, 50, 'goodwill')", [invoiceId, tenantId, `CN-${randomUUID()}`]);
  await o.query("INSERT INTO stripe_mappings (tenant_id, object_type, local_id, stripe_id) VALUES ($1, 'customer', $2, $3)", [tenantId, tenantId, `cus_${randomUUID()}`]);
  await o.query("INSERT INTO alerts (tenant_id, kind, dedup_key) VALUES ($1, 'spend', 'spend:day')", [tenantId]);
}

beforeAll(async () => {
  A = (await createTenant()).id;
  B = (await createTenant()).id;
  await seedTenantRows(A);
  await seedTenantRows(B);
  // Every table in the schema with a tenant_id column (including ones later migrations add), plus tenants itself.
  const { rows } = await pools.owner.query<{ table_name: string }>(
    `SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
     WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE' ORDER BY 1`,
  );
  tenantTables = rows.map((r) => r.table_name);
});

afterAll(closeFactories);

const tenantCol = (table: string) => (table === 'tenants' ? 'id' : 'tenant_id');

describe('row-level security', () => {
  it('the app role is a plain login role: not superuser, no BYPASSRLS, owns no table', async () => {
    const { rows } = await pools.app.query(
      `SELECT r.rolname, r.rolsuper, r.rolbypassrls, (SELECT count(*)::int FROM pg_class WHERE relowner = r.oid) AS owned
       FROM pg_roles r WHERE r.rolname = current_user`,
    );
    expect(rows[0]).toEqual({ rolname: config.DATABASE_APP_ROLE, rolsuper: false, rolbypassrls: false, owned: 0 });
  });

  it('every tenant-owned table has RLS enabled and forced, with a policy', async () => {
    expect(tenantTables).toEqual(expect.arrayContaining(['api_keys', 'audit_log', 'memberships', 'invoices', 'invoice_lines', 'credit_notes', 'alerts', 'webhook_endpoints', 'tenant_plans', 'quota_overrides', 'stripe_mappings']));
    const { rows } = await pools.owner.query(
      `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
       FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1)`,
      [[...tenantTables, 'tenants', 'users']],
    );
    for (const r of rows) expect({ table: r.relname, enabled: r.relrowsecurity, forced: r.relforcerowsecurity, hasPolicy: r.policies > 0 }).toEqual({ table: r.relname, enabled: true, forced: true, hasPolicy: true });
    expect(rows).toHaveLength(tenantTables.length + 2);
  });

  it('inside withTenant, every tenant-owned table shows only that tenant’s rows', async () => {
    for (const [me, other] of [
      [A, B],
      [B, A],
    ] as const) {
      await withTenant(pools.app, { tenantId: me }, async (c) => {
        for (const table of ['tenants', ...tenantTables]) {
          const col = tenantCol(table);
          const { rows } = await c.query(`SELECT count(*) FILTER (WHERE ${col} = $1)::int AS mine, count(*) FILTER (WHERE ${col} IS DISTINCT FROM $1)::int AS foreign FROM ${table}`, [me]);
          expect({ table, foreign: rows[0].foreign }).toEqual({ table, foreign: 0 });
          // The rows seeded for this tenant are visible (tables added by other modules may have none).
          expect(rows[0].mine, table).toBeGreaterThanOrEqual(knownTables.has(table) ? 1 : 0);
        }
        // Users: only members of this tenant.
        const users = await c.query('SELECT count(*)::int AS n FROM users u WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.tenant_id = $1)', [me]);
        expect(users.rows[0].n).toBe(0);
        // Direct reads of the other tenant by id find nothing.
        expect((await c.query('SELECT 1 FROM tenants WHERE id = $1', [other])).rowCount).toBe(0);
        expect((await c.query('SELECT 1 FROM api_keys WHERE tenant_id = $1', [other])).rowCount).toBe(0);
      });
    }
  });

  it('with no tenant set the app role sees nothing, and a stale setting does not leak to the next transaction', async () => {
    await withTenant(pools.app, { tenantId: A }, async () => undefined);
    const client = await pools.app.connect();
    try {
      for (const table of ['tenants', 'users', ...tenantTables]) {
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${table}`);
        expect({ table, n: rows[0].n }).toEqual({ table, n: 0 });
      }
      // After a transaction on this very connection set the tenant, the next one sees nothing again.
      await client.query('BEGIN');
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [A]);
      expect((await client.query('SELECT count(*)::int AS n FROM api_keys')).rows[0].n).toBeGreaterThan(0);
      await client.query('COMMIT');
      expect((await client.query('SELECT count(*)::int AS n FROM api_keys')).rows[0].n).toBe(0);
      expect((await client.query("SELECT current_setting('app.tenant_id', true) AS v")).rows[0].v).toBe('');
    } finally {
      client.release();
    }
  });

  it('cannot insert, move or modify rows of another tenant', async () => {
    const rlsError = /row-level security/;
    await withTenant(pools.app, { tenantId: A }, async (c) => {
      await c.query('SAVEPOINT s');
      await expect(c.query("INSERT INTO api_keys (tenant_id, prefix, hash) VALUES ($1, 'x', repeat('b', 64))", [B])).rejects.toThrow(rlsError);
      await c.query('ROLLBACK TO SAVEPOINT s');
      await expect(c.query("INSERT INTO webhook_endpoints (tenant_id, url, secret) VALUES ($1, 'http://x', 's')", [B])).rejects.toThrow(rlsError);
      await c.query('ROLLBACK TO SAVEPOINT s');
      await expect(c.query("INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, target_type) VALUES ($1, 'system', 'x', 'y', 'z')", [B])).rejects.toThrow(rlsError);
      await c.query('ROLLBACK TO SAVEPOINT s');
      await expect(c.query("INSERT INTO tenants (name, display_name) VALUES ('sneaky', 'x')")).rejects.toThrow(rlsError);
      await c.query('ROLLBACK TO SAVEPOINT s');
      // Moving an own row to the other tenant violates WITH CHECK.
      await expect(c.query('UPDATE webhook_endpoints SET tenant_id = $2 WHERE tenant_id = $1', [A, B])).rejects.toThrow(rlsError);
      await c.query('ROLLBACK TO SAVEPOINT s');
      // Updates and deletes of the other tenant's rows touch nothing.
      expect((await c.query("UPDATE alerts SET status = 'acknowledged' WHERE tenant_id = $1", [B])).rowCount).toBe(0);
      expect((await c.query('DELETE FROM webhook_endpoints WHERE tenant_id = $1', [B])).rowCount).toBe(0);
      expect((await c.query('UPDATE tenants SET display_name = $2 WHERE id = $1', [B, 'pwned'])).rowCount).toBe(0);
    });
    const { rows } = await pools.owner.query('SELECT display_name FROM tenants WHERE id = $1', [B]);
    expect(rows[0].display_name).not.toBe('pwned');
  });

  it('the app role has no DDL, no migrations table, and an append-only audit log', async () => {
    await expect(pools.app.query('CREATE TABLE evil (x int)')).rejects.toThrow(/permission denied/);
    await expect(pools.app.query('SELECT * FROM schema_migrations')).rejects.toThrow(/permission denied/);
    await expect(withPlatform(pools.app, (c) => c.query('DELETE FROM audit_log'))).rejects.toThrow(/permission denied/);
    await expect(withPlatform(pools.app, (c) => c.query("UPDATE audit_log SET action = 'x'"))).rejects.toThrow(/permission denied/);
  });

  it('withPlatform sees all tenants; the flag does not outlive its transaction', async () => {
    const n = await withPlatform(pools.app, async (c) => (await c.query('SELECT count(*)::int AS n FROM tenants WHERE id = ANY($1)', [[A, B]])).rows[0].n);
    expect(n).toBe(2);
    expect((await pools.app.query('SELECT count(*)::int AS n FROM tenants')).rows[0].n).toBe(0);
  });

  it('the key-lookup function does not leak the platform flag into the caller’s transaction', async () => {
    await withTenant(pools.app, { tenantId: A }, async (c) => {
      await c.query('SELECT * FROM auth_api_key($1)', ['0'.repeat(64)]);
      const { rows } = await c.query("SELECT COALESCE(current_setting('app.platform', true), '') AS p");
      expect(rows[0].p).not.toBe('on');
      expect((await c.query('SELECT 1 FROM tenants WHERE id = $1', [B])).rowCount).toBe(0);
    });
  });

  it('rejects a malformed tenant id before reaching SQL', async () => {
    await expect(withTenant(pools.app, { tenantId: "x' OR 1=1 --" }, async () => 1)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('a raw app-role connection cannot read key hashes across tenants', async () => {
    const c = new pg.Client({ connectionString: pools.app.options.connectionString });
    await c.connect();
    try {
      expect((await c.query('SELECT count(*)::int AS n FROM api_keys')).rows[0].n).toBe(0);
    } finally {
      await c.end();
    }
  });
});

const knownTables = new Set(['memberships', 'api_keys', 'audit_log', 'tenant_plans', 'quota_overrides', 'invoices', 'invoice_lines', 'credit_notes', 'stripe_mappings', 'alerts', 'webhook_endpoints', 'tenants']);
