/** Tenants and their plan history. */
import type pg from 'pg';
import { z } from 'zod';
import { isUuid, withPlatform, withTenant, type PgPools } from '../db/index.js';
import { AppError, badInput, notFound } from '../shared/index.js';
import { auditFrom, recordAudit, systemActor, type Actor } from '../audit/index.js';
import { getPlan, type LimitsAnnouncer, type Plan } from '../plans/index.js';
import { publishTenantKeysChanged } from '../keys/index.js';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';

export interface TenantsDeps {
  pools: Pick<PgPools, 'app'>;
}

/** past_due: a payment failed and is still unpaid; the tenant is served until dunning suspends it. */
export type TenantStatus = 'active' | 'past_due' | 'suspended';
/** Why a tenant is suspended: by an operator, or by dunning (lifted by payment, which never lifts an operator's). */
export type SuspensionReason = 'operator' | 'dunning';

export interface Tenant {
  id: string;
  name: string;
  displayName: string;
  status: TenantStatus;
  /** Set exactly when suspended. */
  suspensionReason: SuspensionReason | null;
  timezone: string;
  billingAnchorDay: number;
  currency: string;
  createdAt: Date;
}

/** The tenants columns `tenantFromRow` reads (batched readers elsewhere select the same). */
export const TENANT_COLUMNS = 'id, name, display_name, status, suspension_reason, timezone, billing_anchor_day, currency, created_at';
const COLS = TENANT_COLUMNS;

export function tenantFromRow(r: Record<string, unknown>): Tenant {
  return {
    id: String(r.id),
    name: String(r.name),
    displayName: String(r.display_name),
    status: r.status as TenantStatus,
    // A suspension from before reasons existed counts as an operator's.
    suspensionReason: r.status === 'suspended' ? ((r.suspension_reason as SuspensionReason | null) ?? 'operator') : null,
    timezone: String(r.timezone),
    billingAnchorDay: Number(r.billing_anchor_day),
    currency: String(r.currency).trim(),
    createdAt: r.created_at as Date,
  };
}

export const tenantNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'tenant name: lower-case letters, digits, - and _, at most 63 characters');

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const createSchema = z.object({
  name: tenantNameSchema,
  displayName: z.string().min(1).max(200).optional(),
  plan: z.string().min(1),
  timezone: z.string().refine(isTimeZone, 'unknown IANA time zone').default('UTC'),
  billingAnchorDay: z.number().int().min(1).max(28).default(1),
  currency: z.string().regex(/^[A-Z]{3}$/).default('USD'),
  /** Backdates the first plan (history import): usage from this instant on can be imported and billed. */
  billingStart: z
    .string()
    .datetime({ offset: true, message: 'must be an ISO-8601 date-time with a time zone (e.g. 2026-01-01T00:00:00Z)' })
    .refine((v) => Date.parse(v) <= Date.now(), 'must not be in the future')
    .optional(),
});

export type CreateTenantInput = z.input<typeof createSchema> & { actor?: Actor };

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (!r.success) throw badInput(r.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; '));
  return r.data;
}

/** Creates a tenant on a plan (by code), in one transaction with its plan row and audit entry. Platform operation. */
export async function createTenant(deps: TenantsDeps, input: CreateTenantInput): Promise<Tenant> {
  const t = parse(createSchema, input);
  const actor = input.actor ?? systemActor;
  const plan = await getPlan(deps, { code: t.plan });
  if (!plan || !plan.active) throw badInput(`unknown plan ${JSON.stringify(t.plan)}`);
  try {
    return await withPlatform(deps.pools.app, async (c) => {
      const { rows } = await c.query(
        `INSERT INTO tenants (name, display_name, timezone, billing_anchor_day, currency) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLS}`,
        [t.name, t.displayName ?? t.name, t.timezone, t.billingAnchorDay, t.currency],
      );
      const tenant = tenantFromRow(rows[0]!);
      await c.query('INSERT INTO tenant_plans (tenant_id, plan_id, effective_from) VALUES ($1, $2, COALESCE($3::timestamptz, now()))', [tenant.id, plan.id, t.billingStart ?? null]);
      await recordAudit(c, auditFrom(actor, { tenantId: tenant.id, action: 'tenant.create', targetType: 'tenant', targetId: tenant.id, before: null, after: { ...tenant, plan: plan.code, billingStart: t.billingStart ?? null } }));
      return tenant;
    });
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new AppError('CONFLICT', `a tenant named ${t.name} already exists`);
    throw err;
  }
}

/** The tenant, seen from inside its own scope (RLS), or null. */
export async function getTenant(deps: TenantsDeps, q: { tenantId: string }): Promise<Tenant | null> {
  if (!isUuid(q.tenantId)) return null;
  return withTenant(deps.pools.app, q, async (c) => {
    const { rows } = await c.query(`SELECT ${COLS} FROM tenants WHERE id = $1`, [q.tenantId]);
    return rows[0] ? tenantFromRow(rows[0]) : null;
  });
}

/** All tenants with their current plan code (platform operators, internal jobs), by creation time. */
export async function listTenants(deps: TenantsDeps, opts: { status?: TenantStatus; limit?: number; after?: string } = {}): Promise<Array<Tenant & { planCode: string | null }>> {
  if (opts.after !== undefined && !isUuid(opts.after)) throw badInput('after must be a tenant id');
  return withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query(
      `SELECT ${COLS.split(', ').map((col) => `t.${col}`).join(', ')}, p.code AS plan_code
       FROM tenants t
       LEFT JOIN tenant_plans tp ON tp.tenant_id = t.id AND tp.effective_to IS NULL
       LEFT JOIN plans p ON p.id = tp.plan_id
       WHERE ($1::text IS NULL OR t.status = $1)
         AND ($2::uuid IS NULL OR (t.created_at, t.id) > (SELECT created_at, id FROM tenants WHERE id = $2))
       ORDER BY t.created_at, t.id LIMIT $3`,
      [opts.status ?? null, opts.after ?? null, Math.min(opts.limit ?? 1000, 10_000)],
    );
    return rows.map((r) => ({ ...tenantFromRow(r), planCode: (r.plan_code as string | null) ?? null }));
  });
}

/**
 * Suspends or reactivates a tenant, or marks it past due (audited). Suspended tenants' keys still
 * authenticate but report tenantStatus 'suspended'; with `redis` given, every replica's key cache
 * learns at once. A suspension records its reason (default: operator).
 */
export async function setTenantStatus(
  deps: TenantsDeps & { redis?: Pick<Redis, 'publish'> | null; config?: Pick<Config, 'REDIS_PREFIX'> },
  q: { tenantId: string; status: TenantStatus; reason?: SuspensionReason; actor: Actor },
): Promise<Tenant> {
  if (!isUuid(q.tenantId)) throw notFound('tenant not found');
  const { after } = await withPlatform(deps.pools.app, (c) => changeTenantStatus(c, q));
  if (deps.redis && deps.config) await publishTenantKeysChanged({ redis: deps.redis, config: deps.config }, q.tenantId).catch(() => undefined);
  return after;
}

/**
 * The status change inside the caller's (platform) transaction, so another domain (dunning) can
 * decide on the locked row and change it in one commit: `only` refuses the change (changed:
 * false) unless the current state passes it. The caller publishes the keys change after commit.
 */
export async function changeTenantStatus(
  c: pg.ClientBase,
  q: { tenantId: string; status: TenantStatus; reason?: SuspensionReason; actor: Actor; only?: (current: Tenant) => boolean },
): Promise<{ changed: boolean; before: Tenant; after: Tenant }> {
  const before = await lockTenant(c, q.tenantId);
  if (q.only && !q.only(before)) return { changed: false, before, after: before };
  const reason = q.status === 'suspended' ? (q.reason ?? 'operator') : null;
  if (before.status === q.status && before.suspensionReason === reason) return { changed: false, before, after: before };
  const { rows } = await c.query(`UPDATE tenants SET status = $2, suspension_reason = $3 WHERE id = $1 RETURNING ${COLS}`, [q.tenantId, q.status, reason]);
  const after = tenantFromRow(rows[0]!);
  await recordAudit(c, auditFrom(q.actor, { tenantId: q.tenantId, action: 'tenant.status', targetType: 'tenant', targetId: q.tenantId, before, after }));
  return { changed: true, before, after };
}

async function lockTenant(c: pg.ClientBase, tenantId: string): Promise<Tenant> {
  const { rows } = await c.query(`SELECT ${COLS} FROM tenants WHERE id = $1 FOR UPDATE`, [tenantId]);
  if (!rows[0]) throw notFound('tenant not found');
  return tenantFromRow(rows[0]);
}

export interface TenantPlan {
  plan: Plan;
  effectiveFrom: Date;
  effectiveTo: Date | null;
}

/** The plan in force for the tenant at `at` (default now), or null. */
export async function currentPlan(deps: TenantsDeps, q: { tenantId: string; at?: Date }): Promise<TenantPlan | null> {
  if (!isUuid(q.tenantId)) return null;
  const row = await withTenant(deps.pools.app, q, async (c) => {
    const { rows } = await c.query(
      `SELECT plan_id, effective_from, effective_to FROM tenant_plans
       WHERE tenant_id = $1 AND effective_from <= COALESCE($2, now()) AND (effective_to IS NULL OR effective_to > COALESCE($2, now()))`,
      [q.tenantId, q.at ?? null],
    );
    return rows[0];
  });
  if (!row) return null;
  const plan = await getPlan(deps, { planId: row.plan_id });
  return plan ? { plan, effectiveFrom: row.effective_from, effectiveTo: row.effective_to } : null;
}

/** The tenant's plan history, oldest first. */
export async function listTenantPlans(deps: TenantsDeps, q: { tenantId: string }): Promise<Array<{ planId: string; planCode: string; effectiveFrom: Date; effectiveTo: Date | null }>> {
  return withTenant(deps.pools.app, q, async (c) => {
    const { rows } = await c.query(
      `SELECT tp.plan_id, p.code, tp.effective_from, tp.effective_to FROM tenant_plans tp JOIN plans p ON p.id = tp.plan_id
       WHERE tp.tenant_id = $1 ORDER BY tp.effective_from`,
      [q.tenantId],
    );
    return rows.map((r) => ({ planId: r.plan_id, planCode: r.code, effectiveFrom: r.effective_from, effectiveTo: r.effective_to }));
  });
}

/**
 * Moves the tenant to another plan from `at` (default now): closes the open tenant_plans row and
 * opens a new one, audited with before/after. A no-op (returns changed: false) when already on it.
 * A change is announced to every admission process after the commit (src/plans limits-changes.ts).
 */
export async function setTenantPlan(deps: TenantsDeps & { announceLimits: LimitsAnnouncer }, q: { tenantId: string; plan: string; actor: Actor; at?: Date }): Promise<{ changed: boolean; from: string | null; to: string }> {
  if (!isUuid(q.tenantId)) throw notFound('tenant not found');
  const plan = await getPlan(deps, { code: q.plan });
  if (!plan || !plan.active) throw badInput(`unknown plan ${JSON.stringify(q.plan)}`);
  const result = await withPlatform(deps.pools.app, async (c) => {
    await lockTenant(c, q.tenantId); // serialises concurrent plan changes of one tenant
    const { rows: open } = await c.query(
      `SELECT tp.id, tp.plan_id, p.code, tp.effective_from FROM tenant_plans tp JOIN plans p ON p.id = tp.plan_id
       WHERE tp.tenant_id = $1 AND tp.effective_to IS NULL`,
      [q.tenantId],
    );
    const cur = open[0];
    if (cur && cur.plan_id === plan.id) return { changed: false, from: cur.code as string, to: plan.code };
    const at = q.at ?? (await c.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now;
    if (cur && at.getTime() <= (cur.effective_from as Date).getTime()) throw badInput('a plan change must start after the current plan started');
    if (cur) await c.query('UPDATE tenant_plans SET effective_to = $2 WHERE id = $1', [cur.id, at]);
    await c.query('INSERT INTO tenant_plans (tenant_id, plan_id, effective_from) VALUES ($1, $2, $3)', [q.tenantId, plan.id, at]);
    await recordAudit(
      c,
      auditFrom(q.actor, {
        tenantId: q.tenantId,
        action: 'tenant.plan_change',
        targetType: 'tenant',
        targetId: q.tenantId,
        before: cur ? { plan: cur.code, planId: cur.plan_id } : null,
        after: { plan: plan.code, planId: plan.id, effectiveFrom: at.toISOString() },
      }),
    );
    return { changed: true, from: (cur?.code as string | undefined) ?? null, to: plan.code };
  });
  if (result.changed) await deps.announceLimits(q.tenantId);
  return result;
}
