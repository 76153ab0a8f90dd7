/**
 * Batch reads for the GraphQL layer (DataLoader backends) and paginated lists (keyset pages the
 * domain modules do not offer). Each function runs ONE statement inside the caller's scoped
 * transaction (RLS: a tenant principal sees only its own rows; platform sees all). Single-object
 * reads and all writes go through the domain modules (src/tenants, src/keys, src/plans), which
 * also write the audit log; row types are theirs where the columns are the same.
 */
import type pg from 'pg';
import type { PriceComponentRow } from '../../../src/plans/index.js';
import { tenantFromRow, TENANT_COLUMNS, type Tenant } from '../../../src/tenants/index.js';
import { apiKeyFromRow, API_KEY_COLUMNS, type ApiKeyInfo } from '../../../src/keys/index.js';
import { tierRowsFromJson } from '../../../src/billing/index.js';

/** A tenant as src/tenants describes it (the same columns, read in batches here). */
export type TenantRow = Tenant;

export async function tenantsByIds(c: pg.ClientBase, ids: readonly string[]): Promise<TenantRow[]> {
  const { rows } = await c.query(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = ANY($1::uuid[])`, [ids]);
  return rows.map(tenantFromRow);
}

/** A page of tenants by (name, id), keyset after `after`. Fetches limit + 1 to know whether there is a next page. */
export async function tenantsPage(c: pg.ClientBase, q: { limit: number; afterName: string | null; status: string | null }): Promise<TenantRow[]> {
  const { rows } = await c.query(
    `SELECT ${TENANT_COLUMNS} FROM tenants WHERE ($1::text IS NULL OR name > $1) AND ($2::text IS NULL OR status = $2) ORDER BY name LIMIT $3`,
    [q.afterName, q.status, q.limit + 1],
  );
  return rows.map(tenantFromRow);
}

export interface PlanRow {
  tenantId: string;
  id: string;
  code: string;
  name: string;
  description: string;
  currency: string;
  priorityTier: number;
  active: boolean;
  quotas: Array<{ meter: string; limit: number; hard: boolean }>;
}

/** Current plan per tenant (one statement for many tenants). */
export async function plansByTenantIds(c: pg.ClientBase, tenantIds: readonly string[]): Promise<PlanRow[]> {
  const { rows } = await c.query(
    `SELECT tp.tenant_id, p.id, p.code, p.name, p.description, p.currency, p.priority_tier, p.active,
       COALESCE((SELECT json_agg(json_build_object('meter', q.meter, 'limit', q.limit_value::text, 'hard', q.hard) ORDER BY q.meter)
                 FROM plan_quotas q WHERE q.plan_id = p.id), '[]'::json) AS quotas
     FROM tenant_plans tp JOIN plans p ON p.id = tp.plan_id
     WHERE tp.tenant_id = ANY($1::uuid[]) AND tp.effective_from <= now() AND (tp.effective_to IS NULL OR tp.effective_to > now())`,
    [tenantIds],
  );
  return rows.map((r) => ({
    tenantId: String(r.tenant_id),
    id: String(r.id),
    code: String(r.code),
    name: String(r.name),
    description: String(r.description),
    currency: String(r.currency).trim(),
    priorityTier: Number(r.priority_tier),
    active: Boolean(r.active),
    quotas: (r.quotas as Array<{ meter: string; limit: string; hard: boolean }>).map((q) => ({ meter: q.meter, limit: Number(q.limit), hard: q.hard })),
  }));
}

/** Price component columns (table alias `p`); `tiers::text` so jsonb amounts are read exactly (never as JS floats). */
const priceCols = (p: string) =>
  `${p}id, ${p}plan_id, ${p}meter, ${p}model, ${p}unit_price_micros::text, ${p}tiers::text AS tiers, ${p}package_size::text, ${p}included_quantity::text, ${p}currency, ${p}effective_from, ${p}effective_to`;

/**
 * A price_components row; tiers parsed exactly and normalised to decimal strings. An amount with
 * more than 6 decimal places fails the read loudly (naming the component), never rounds.
 */
function priceComponentRow(r: Record<string, unknown>): PriceComponentRow {
  let tiers: PriceComponentRow['tiers'];
  try {
    tiers = tierRowsFromJson((r.tiers as string | null) ?? null);
  } catch (err) {
    throw new RangeError(`price component ${String(r.id)}: ${(err as Error).message}`, { cause: err });
  }
  return {
    id: String(r.id),
    planId: String(r.plan_id),
    meter: r.meter as PriceComponentRow['meter'],
    model: r.model as PriceComponentRow['model'],
    unitPriceMicros: (r.unit_price_micros as string | null) ?? null,
    tiers,
    packageSize: (r.package_size as string | null) ?? null,
    includedQuantity: String(r.included_quantity),
    currency: String(r.currency).trim(),
    effectiveFrom: r.effective_from as Date,
    effectiveTo: (r.effective_to as Date | null) ?? null,
  };
}

/** Price components in effect at `at` for many plans. */
export async function priceComponentsByPlanIds(c: pg.ClientBase, planIds: readonly string[], at: Date): Promise<PriceComponentRow[]> {
  const { rows } = await c.query(
    `SELECT ${priceCols('')}
     FROM price_components
     WHERE plan_id = ANY($1::uuid[]) AND kind = 'usage' AND effective_from <= $2 AND (effective_to IS NULL OR effective_to > $2)
     ORDER BY meter`,
    [planIds, at],
  );
  return rows.map(priceComponentRow);
}

export async function stripeCustomersByTenantIds(c: pg.ClientBase, tenantIds: readonly string[]): Promise<Array<{ tenantId: string; stripeId: string }>> {
  const { rows } = await c.query(
    `SELECT tenant_id, stripe_id FROM stripe_mappings WHERE object_type = 'customer' AND tenant_id = ANY($1::uuid[]) AND local_id = tenant_id::text`,
    [tenantIds],
  );
  return rows.map((r) => ({ tenantId: String(r.tenant_id), stripeId: String(r.stripe_id) }));
}

/** An API key as src/keys describes it (never the hash). */
export type ApiKeyRow = ApiKeyInfo;

/** A page of a tenant's keys, newest first, keyset on (created_at, id). Never selects the hash. */
export async function apiKeysPage(
  c: pg.ClientBase,
  q: { tenantId: string; limit: number; after: { createdAt: string; id: string } | null; includeRevoked: boolean },
): Promise<Array<ApiKeyRow & { cursorTs: string }>> {
  // The cursor keeps created_at at full (microsecond) precision; a JS Date would round it.
  const { rows } = await c.query(
    `SELECT ${API_KEY_COLUMNS}, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts FROM api_keys
     WHERE tenant_id = $1 AND ($2 OR revoked_at IS NULL)
       AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
     ORDER BY created_at DESC, id DESC LIMIT $5`,
    [q.tenantId, q.includeRevoked, q.after?.createdAt ?? null, q.after?.id ?? null, q.limit + 1],
  );
  return rows.map((r) => ({ ...apiKeyFromRow(r), cursorTs: String(r.cursor_ts) }));
}

export async function apiKeysByIds(c: pg.ClientBase, ids: readonly string[]): Promise<ApiKeyRow[]> {
  const { rows } = await c.query(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE id = ANY($1::uuid[])`, [ids]);
  return rows.map(apiKeyFromRow);
}
