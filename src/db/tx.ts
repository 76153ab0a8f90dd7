/**
 * Transactions that carry the tenant (or the platform flag) for row-level security.
 *
 * Policies read two transaction-local settings (see migration 001):
 * - `app.tenant_id`: the one tenant whose rows are visible and writable;
 * - `app.platform = 'on'`: operator / internal-job access across tenants. Only `withPlatform`
 *   sets it; keep its callers few (tenant creation, listing tenants, API-key lookup, jobs
 *   that iterate tenants). RLS here guards against application bugs (a forgotten tenant
 *   filter), not against arbitrary SQL from the app role, which could set either setting.
 * Both are set with `set_config(..., true)`, so they vanish at COMMIT/ROLLBACK and never
 * leak to the next user of a pooled connection.
 */
import type pg from 'pg';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { badInput } from '../shared/index.js';

const tracer = trace.getTracer('tollgate.db');
const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && uuidRe.test(value);
}

async function inTransaction<T>(pool: pg.Pool, spanName: string, attrs: Record<string, string>, setup: (c: pg.PoolClient) => Promise<unknown>, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(spanName, { attributes: { 'db.system': 'postgresql', ...attrs } }, async (span) => {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await setup(client);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // connection is unusable; drop it from the pool
      }
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      client.release(broken);
      span.end();
    }
  });
}

/** Runs `fn` in one transaction that sees only `tenantId`'s rows. */
export function withTenant<T>(pool: pg.Pool, scope: { tenantId: string }, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  // A malformed id would make the policies' ::uuid cast throw mid-query; reject it up front.
  if (!isUuid(scope.tenantId)) return Promise.reject(badInput('tenantId must be a UUID'));
  return inTransaction(pool, 'db.withTenant', { 'tenant.id': scope.tenantId }, (c) => c.query("SELECT set_config('app.tenant_id', $1, true)", [scope.tenantId]), fn);
}

/** Runs `fn` in one transaction with cross-tenant (platform) access. Operators and internal jobs only. */
export function withPlatform<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, 'db.withPlatform', {}, (c) => c.query("SELECT set_config('app.platform', 'on', true)"), fn);
}
