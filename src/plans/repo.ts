/** Plan catalog reads and effective limits (plan merged with quota overrides). */
import type pg from 'pg';
import { z } from 'zod';
import { tracedQuery, isUuid, withPlatform, withTenant, type PgPools } from '../db/index.js';
import { badInput, notFound } from '../shared/index.js';
import { recordAudit, auditFrom, type Actor } from '../audit/index.js';
import { meters, overrideKinds, type EffectiveLimits, type Meter, type OverrideKind, type Plan, type PriceComponentRow, type QuotaLimit, type ScopeLimits } from './types.js';
import type { LimitsAnnouncer } from './limits-changes.js';
import { tierRowsFromJson } from '../billing/index.js';

export interface PlansDeps {
  pools: Pick<PgPools, 'app'>;
}

const quotaJson = z.array(z.object({ meter: z.enum(meters), limit: z.coerce.number(), hard: z.boolean(), soft: z.array(z.number()) }));

const PLAN_SELECT = `
  SELECT p.id, p.code, p.name, p.description, p.priority_tier, p.rate_limit_rps, p.burst, p.max_concurrency, p.currency, p.active,
    COALESCE((SELECT json_agg(json_build_object('meter', q.meter, 'limit', q.limit_value::text, 'hard', q.hard, 'soft', q.soft_thresholds) ORDER BY q.meter)
              FROM plan_quotas q WHERE q.plan_id = p.id), '[]'::json) AS quotas
  FROM plans p`;

function planFromRow(r: Record<string, unknown>): Plan {
  return {
    id: String(r.id),
    code: String(r.code),
    name: String(r.name),
    description: String(r.description),
    priorityTier: Number(r.priority_tier),
    rateLimitRps: Number(r.rate_limit_rps),
    burst: Number(r.burst),
    maxConcurrency: Number(r.max_concurrency),
    currency: String(r.currency),
    active: Boolean(r.active),
    quotas: quotaJson.parse(r.quotas).map((q) => ({ meter: q.meter, limit: q.limit, hard: q.hard, softThresholds: q.soft })),
  };
}

/** The plan with this code (or id), or null. */
export async function getPlan(deps: PlansDeps, q: { code: string } | { planId: string }): Promise<Plan | null> {
  const byId = 'planId' in q;
  if (byId && !isUuid(q.planId)) return null;
  const { rows } = await tracedQuery(deps.pools.app, 'plans.get', `${PLAN_SELECT} WHERE ${byId ? 'p.id = $1' : 'p.code = $1'}`, [byId ? q.planId : q.code]);
  return rows[0] ? planFromRow(rows[0]) : null;
}

export async function listPlans(deps: PlansDeps, opts: { includeInactive?: boolean } = {}): Promise<Plan[]> {
  const { rows } = await tracedQuery(deps.pools.app, 'plans.list', `${PLAN_SELECT} WHERE $1 OR p.active ORDER BY p.priority_tier, p.code`, [opts.includeInactive ?? false]);
  return rows.map(planFromRow);
}

/** The plan's price components in effect at `at` (default now), one per meter. */
export async function getPriceComponents(deps: PlansDeps, q: { planId: string; at?: Date }): Promise<PriceComponentRow[]> {
  if (!isUuid(q.planId)) throw badInput('planId must be a UUID');
  const { rows } = await tracedQuery(
    deps.pools.app,
    'plans.priceComponents',
    `SELECT id, plan_id, meter, model, unit_price_micros::text, tiers::text AS tiers, package_size::text, included_quantity::text, currency, effective_from, effective_to
     FROM price_components
     WHERE plan_id = $1 AND kind = 'usage' AND effective_from <= COALESCE($2, now()) AND (effective_to IS NULL OR effective_to > COALESCE($2, now()))
     ORDER BY meter`,
    [q.planId, q.at ?? null],
  );
  return rows.map((r) => ({
    id: r.id,
    planId: r.plan_id,
    meter: r.meter,
    model: r.model,
    unitPriceMicros: r.unit_price_micros,
    // Read as text and parsed exactly: tier prices never pass through floats.
    tiers: tierRowsFromJson(r.tiers),
    packageSize: r.package_size,
    includedQuantity: r.included_quantity,
    currency: r.currency,
    effectiveFrom: r.effective_from,
    effectiveTo: r.effective_to,
  }));
}

const overrideJson = z.array(z.object({ api_key_id: z.string().nullable(), meter: z.enum(overrideKinds), limit: z.coerce.number(), hard: z.boolean().nullable() }));

/**
 * Limits in force for a tenant (and optionally one of its keys) at `at` (default: now): the
 * tenant's plan, with tenant-wide overrides applied; plus the key's own extra caps. One query.
 * Returns null when the tenant does not exist or has no plan at `at`. Callers cache it.
 */
export async function getEffectiveLimits(deps: PlansDeps, q: { tenantId: string; apiKeyId?: string | null; at?: Date }): Promise<EffectiveLimits | null> {
  const apiKeyId = q.apiKeyId ?? null;
  if (apiKeyId !== null && !isUuid(apiKeyId)) throw badInput('apiKeyId must be a UUID');
  const row = await withTenant(deps.pools.app, { tenantId: q.tenantId }, async (c) => {
    const { rows } = await c.query(
      `WITH at AS (SELECT COALESCE($2::timestamptz, now()) AS ts)
       SELECT t.status, t.timezone, t.billing_anchor_day, p.id AS plan_id, p.code, p.name, p.priority_tier, p.rate_limit_rps, p.burst, p.max_concurrency,
         COALESCE((SELECT json_agg(json_build_object('meter', pq.meter, 'limit', pq.limit_value::text, 'hard', pq.hard, 'soft', pq.soft_thresholds))
                   FROM plan_quotas pq WHERE pq.plan_id = p.id), '[]'::json) AS quotas,
         COALESCE((SELECT json_agg(json_build_object('api_key_id', o.api_key_id, 'meter', o.meter, 'limit', o.limit_value::text, 'hard', o.hard))
                   FROM quota_overrides o, at
                   WHERE o.tenant_id = t.id AND (o.api_key_id IS NULL OR o.api_key_id = $3::uuid)
                     AND o.effective_from <= at.ts AND (o.effective_to IS NULL OR o.effective_to > at.ts)), '[]'::json) AS overrides
       FROM at, tenants t
       JOIN tenant_plans tp ON tp.tenant_id = t.id
       JOIN plans p ON p.id = tp.plan_id
       WHERE t.id = $1 AND tp.effective_from <= at.ts AND (tp.effective_to IS NULL OR tp.effective_to > at.ts)`,
      [q.tenantId, q.at ?? null, apiKeyId],
    );
    return rows[0];
  });
  if (!row) return null;

  // Plan quotas, then tenant-wide overrides, then the key's own caps (inheriting hard/thresholds).
  const planQuotas = new Map<Meter, Omit<QuotaLimit, 'meter'>>();
  for (const pq of quotaJson.parse(row.quotas)) planQuotas.set(pq.meter, { limit: pq.limit, hard: pq.hard, softThresholds: [...pq.soft].sort((x, y) => x - y) });
  let rateLimitRps = Number(row.rate_limit_rps);
  let burst = Number(row.burst);
  let maxConcurrency = Number(row.max_concurrency);
  const overrides = overrideJson.parse(row.overrides);
  const quotaOverride = (o: { meter: Meter; limit: number; hard: boolean | null }, base: Omit<QuotaLimit, 'meter'> | undefined) => ({ limit: o.limit, hard: o.hard ?? base?.hard ?? true, softThresholds: base?.softThresholds ?? [80, 100] });
  for (const o of overrides) {
    if (o.api_key_id !== null) continue;
    if (o.meter === 'rate') rateLimitRps = o.limit;
    else if (o.meter === 'burst') burst = o.limit;
    else if (o.meter === 'concurrency') maxConcurrency = o.limit;
    else planQuotas.set(o.meter, quotaOverride({ meter: o.meter, limit: o.limit, hard: o.hard }, planQuotas.get(o.meter)));
  }
  const tenantQuotas: QuotaLimit[] = meters.map((meter) => ({ meter, ...(planQuotas.get(meter) ?? { limit: Infinity, hard: false, softThresholds: [] }) }));

  let key: ScopeLimits | null = null;
  const keyOverrides = overrides.filter((o) => o.api_key_id !== null);
  if (keyOverrides.length) {
    let rps: number | undefined;
    let keyBurst: number | undefined;
    let concurrency: number | undefined;
    const keyQuotas = new Map<Meter, Omit<QuotaLimit, 'meter'>>();
    for (const o of keyOverrides) {
      if (o.meter === 'rate') rps = o.limit;
      else if (o.meter === 'burst') keyBurst = o.limit;
      else if (o.meter === 'concurrency') concurrency = o.limit;
      else keyQuotas.set(o.meter, quotaOverride({ meter: o.meter, limit: o.limit, hard: o.hard }, planQuotas.get(o.meter)));
    }
    key = {
      rate: rps !== undefined || keyBurst !== undefined ? { rps: rps ?? rateLimitRps, burst: keyBurst ?? Math.max(rps ?? burst, 1) } : null,
      concurrency: concurrency ?? null,
      quotas: meters.flatMap((meter) => {
        const kq = keyQuotas.get(meter);
        return kq ? [{ meter, ...kq }] : [];
      }),
    };
  }
  return {
    tenantId: q.tenantId,
    apiKeyId: apiKeyId ?? undefined,
    planId: String(row.plan_id),
    planCode: String(row.code),
    priorityTier: Number(row.priority_tier),
    timeZone: String(row.timezone),
    billingAnchorDay: Number(row.billing_anchor_day),
    tenant: { rate: { rps: rateLimitRps, burst }, concurrency: maxConcurrency, quotas: tenantQuotas },
    key,
  };
}

export interface QuotaOverride {
  id: string;
  tenantId: string;
  apiKeyId: string | null;
  meter: OverrideKind;
  limit: number;
  hard: boolean | null;
  reason: string;
  effectiveFrom: Date;
  effectiveTo: Date | null;
}

function overrideFromRow(r: Record<string, unknown>): QuotaOverride {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    apiKeyId: (r.api_key_id as string | null) ?? null,
    meter: r.meter as OverrideKind,
    limit: Number(r.limit_value),
    hard: (r.hard as boolean | null) ?? null,
    reason: String(r.reason),
    effectiveFrom: r.effective_from as Date,
    effectiveTo: (r.effective_to as Date | null) ?? null,
  };
}

const OVERRIDE_COLS = 'id, tenant_id, api_key_id, meter, limit_value, hard, reason, effective_from, effective_to';

/** Current overrides of a tenant (tenant-wide and per key). */
export async function listQuotaOverrides(deps: PlansDeps, q: { tenantId: string }): Promise<QuotaOverride[]> {
  return withTenant(deps.pools.app, q, async (c) => {
    const { rows } = await c.query(`SELECT ${OVERRIDE_COLS} FROM quota_overrides WHERE tenant_id = $1 AND (effective_to IS NULL OR effective_to > now()) ORDER BY meter, api_key_id NULLS FIRST`, [q.tenantId]);
    return rows.map(overrideFromRow);
  });
}

/**
 * Sets (limit given) or clears (limit null) the override for (tenant, key?, meter) from now on:
 * closes the open row and opens a new one. Platform operation; audited with before/after; the
 * change is announced to every admission process (limits-changes.ts).
 */
export async function setQuotaOverride(
  deps: PlansDeps & { announceLimits: LimitsAnnouncer },
  q: { tenantId: string; apiKeyId?: string | null; meter: OverrideKind; limit: number | null; hard?: boolean | null; reason?: string; actor: Actor },
): Promise<QuotaOverride | null> {
  if (!overrideKinds.includes(q.meter)) throw badInput(`unknown meter ${q.meter}`);
  if (q.limit !== null && !(Number.isSafeInteger(q.limit) && q.limit >= 0)) throw badInput('limit must be a non-negative integer');
  if (!isUuid(q.tenantId)) throw badInput('tenantId must be a UUID');
  const result = await withPlatform(deps.pools.app, async (c: pg.PoolClient) => {
    const exists = await c.query('SELECT 1 FROM tenants WHERE id = $1', [q.tenantId]);
    if (!exists.rowCount) throw notFound('tenant not found');
    const { rows: closed } = await c.query(
      `UPDATE quota_overrides SET effective_to = now()
       WHERE tenant_id = $1 AND api_key_id IS NOT DISTINCT FROM $2::uuid AND meter = $3 AND (effective_to IS NULL OR effective_to > now())
       RETURNING ${OVERRIDE_COLS}`,
      [q.tenantId, q.apiKeyId ?? null, q.meter],
    );
    let created: QuotaOverride | null = null;
    if (q.limit !== null) {
      const { rows } = await c.query(
        `INSERT INTO quota_overrides (tenant_id, api_key_id, meter, limit_value, hard, reason, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${OVERRIDE_COLS}`,
        [q.tenantId, q.apiKeyId ?? null, q.meter, q.limit, q.hard ?? null, q.reason ?? '', `${q.actor.type}:${q.actor.id}`],
      );
      created = overrideFromRow(rows[0]!);
    }
    await recordAudit(
      c,
      auditFrom(q.actor, {
        tenantId: q.tenantId,
        action: q.limit === null ? 'quota_override.clear' : 'quota_override.set',
        targetType: 'quota_override',
        targetId: `${q.apiKeyId ?? '*'}:${q.meter}`,
        before: closed[0] ? overrideFromRow(closed[0]) : null,
        after: created,
      }),
    );
    return created;
  });
  await deps.announceLimits(q.tenantId); // after the commit: a process reloading now reads the new row
  return result;
}
