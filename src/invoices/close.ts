/**
 * Period close: the invoices of the billing periods that started in a calendar month (in each
 * tenant's time zone, on its anchor day) and have ended. Used by `tollgate billing close` and by
 * the worker's hourly scan (closeEndedPeriods).
 */
import { withPlatform, isUuid } from '../db/index.js';
import { billingPeriod, startOfLocalDay } from '../quotas/index.js';
import { badInput, notFound } from '../shared/index.js';
import type { GenerateDeps } from './generate.js';
import { generateWithAdjustments } from './lifecycle.js';
import { invoicesInPeriodsStarting, type InvoiceWithLines } from './repo.js';

export interface TenantBilling {
  id: string;
  timezone: string;
  anchorDay: number;
  /** When its first plan starts (null: no plan at all). */
  firstPlanFrom: Date | null;
}

const monthRe = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function parseMonth(text: string): { year: number; month: number } {
  const m = monthRe.exec(text);
  if (!m) throw badInput(`--period must be YYYY-MM, got ${JSON.stringify(text)}`);
  return { year: Number(m[1]), month: Number(m[2]) };
}

/** The tenant's billing period that starts in (year, month). */
export function periodStartingIn(t: Pick<TenantBilling, 'timezone' | 'anchorDay'>, year: number, month: number): { start: Date; end: Date } {
  const start = startOfLocalDay(year, month, Math.min(t.anchorDay, new Date(Date.UTC(year, month, 0)).getUTCDate()), t.timezone);
  const p = billingPeriod({ at: start, anchorDay: t.anchorDay, timeZone: t.timezone });
  return { start: p.start, end: p.end };
}

export async function tenantsForBilling(deps: Pick<GenerateDeps, 'pools'>, q: { tenantId?: string; limit?: number; after?: string }): Promise<TenantBilling[]> {
  if (q.tenantId !== undefined && !isUuid(q.tenantId)) throw notFound('tenant not found');
  const rows = await withPlatform(deps.pools.app, async (c) => {
    const r = await c.query(
      `SELECT t.id, t.timezone, t.billing_anchor_day, (SELECT min(effective_from) FROM tenant_plans tp WHERE tp.tenant_id = t.id) AS first_plan_from
       FROM tenants t WHERE ($1::uuid IS NULL OR t.id = $1) AND ($2::uuid IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3`,
      [q.tenantId ?? null, q.after ?? null, q.limit ?? 1_000_000],
    );
    return r.rows;
  });
  if (q.tenantId && rows.length === 0) throw notFound('tenant not found');
  return rows.map((r) => ({ id: String(r.id), timezone: String(r.timezone), anchorDay: Number(r.billing_anchor_day), firstPlanFrom: (r.first_plan_from as Date | null) ?? null }));
}

export interface CloseResult {
  invoices: InvoiceWithLines[];
  created: number;
  skipped: number;
  notEnded: number;
}

/**
 * Closes the periods starting in `month` ("YYYY-MM") for one tenant or all; returns that month's
 * invoices, whether made now or before. With a tenant, a period that has not ended is an error.
 */
export async function closeMonth(
  deps: GenerateDeps,
  q: { month: string; tenantId?: string; now?: Date; concurrency?: number; onProgress?: (done: number, total: number) => void },
): Promise<CloseResult> {
  const { year, month } = parseMonth(q.month);
  const now = q.now ?? new Date();
  const tenants = await tenantsForBilling(deps, { tenantId: q.tenantId });
  const jobs: Array<{ tenant: TenantBilling; period: { start: Date; end: Date } }> = [];
  let notEnded = 0;
  for (const tenant of tenants) {
    const period = periodStartingIn(tenant, year, month);
    // No plan before the period ended: nothing to bill (the tenant did not exist yet).
    if (!tenant.firstPlanFrom || tenant.firstPlanFrom.getTime() >= period.end.getTime()) continue;
    if (period.end.getTime() > now.getTime()) {
      if (q.tenantId) throw badInput(`the period ${period.start.toISOString()} – ${period.end.toISOString()} has not ended`);
      notEnded++;
      continue;
    }
    jobs.push({ tenant, period });
  }
  let created = 0;
  let skipped = 0;
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const r = await generateWithAdjustments(deps, { tenantId: job.tenant.id, period: job.period, now });
      if (r.outcome === 'created') created++;
      if (r.outcome === 'skipped') skipped++;
      q.onProgress?.(++done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(q.concurrency ?? 4, jobs.length)) }, worker));
  // The month's invoices, as stored (periods start on local dates in the month: a ±1 day window in UTC covers every zone).
  const from = new Date(Date.UTC(year, month - 1, 1) - 2 * 86_400_000);
  const to = new Date(Date.UTC(year, month, 1) + 2 * 86_400_000);
  const wanted = new Set(jobs.map((j) => `${j.tenant.id}|${j.period.start.getTime()}|${j.period.end.getTime()}`));
  const stored = await invoicesInPeriodsStarting(deps, { tenantId: q.tenantId, from, to });
  const invoices = stored.filter((i) => wanted.has(`${i.tenantId}|${i.periodStart.getTime()}|${i.periodEnd.getTime()}`));
  return { invoices, created, skipped, notEnded };
}
