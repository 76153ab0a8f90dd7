/**
 * The worker's period-close scan (bull repeatable job `billing.close`, hourly by default — billing
 * periods end at midnight in each tenant's time zone): generates the invoice of every tenant's
 * last ended period, resumes generation left `generating` by a killed worker, refreshes drafts
 * inside their grace window and finalizes those past it (unless a replica's WAL still lags: then
 * the draft waits for the next scan).
 */
import { systemActor } from '../audit/index.js';
import { withPlatform } from '../db/index.js';
import type { Logger } from '../shared/index.js';
import { billingPeriod } from '../quotas/index.js';
import { tenantsForBilling } from './close.js';
import { finalizeInvoice, generateWithAdjustments, refreshDraft, WatermarkLagError, type LifecycleDeps } from './lifecycle.js';

export interface ScanReport {
  generated: number;
  resumed: number;
  refreshed: number;
  finalized: number;
  waiting: Array<{ invoiceId: string; reason: string }>;
  failed: Array<{ tenantId: string; error: string }>;
}

export async function runBillingScan(deps: LifecycleDeps & { logger?: Logger }, q: { now?: Date; tenantId?: string } = {}): Promise<ScanReport> {
  const now = q.now ?? new Date();
  const report: ScanReport = { generated: 0, resumed: 0, refreshed: 0, finalized: 0, waiting: [], failed: [] };
  const tenants = await tenantsForBilling(deps, { tenantId: q.tenantId });
  for (const t of tenants) {
    const current = billingPeriod({ at: now, anchorDay: t.anchorDay, timeZone: t.timezone });
    const last = billingPeriod({ at: current.start.getTime() - 1, anchorDay: t.anchorDay, timeZone: t.timezone });
    if (!t.firstPlanFrom || t.firstPlanFrom.getTime() >= last.end.getTime()) continue;
    try {
      const r = await generateWithAdjustments(deps, { tenantId: t.id, period: { start: last.start, end: last.end }, now });
      if (r.outcome === 'created') report.generated++;
    } catch (err) {
      report.failed.push({ tenantId: t.id, error: (err as Error).message });
    }
  }
  // Generation a killed worker left behind, for any period.
  const stuck = await withPlatform(deps.pools.app, (c) => c.query(`SELECT tenant_id, period_start, period_end FROM invoices WHERE status = 'generating' AND period_end <= $1 AND ($2::uuid IS NULL OR tenant_id = $2)`, [now, q.tenantId ?? null]));
  for (const r of stuck.rows) {
    try {
      const g = await generateWithAdjustments(deps, { tenantId: String(r.tenant_id), period: { start: r.period_start as Date, end: r.period_end as Date }, now });
      if (g.outcome === 'created') report.resumed++;
    } catch (err) {
      report.failed.push({ tenantId: String(r.tenant_id), error: (err as Error).message });
    }
  }
  const drafts = await withPlatform(deps.pools.app, (c) => c.query(`SELECT id, tenant_id, grace_ends_at FROM invoices WHERE status = 'draft' AND ($1::uuid IS NULL OR tenant_id = $1) ORDER BY period_end`, [q.tenantId ?? null]));
  for (const d of drafts.rows) {
    const id = String(d.id);
    try {
      if (d.grace_ends_at && (d.grace_ends_at as Date).getTime() <= now.getTime()) {
        await finalizeInvoice(deps, { invoiceId: id, actor: systemActor, now, automatic: true });
        report.finalized++;
      } else {
        await refreshDraft(deps, { invoiceId: id });
        report.refreshed++;
      }
    } catch (err) {
      if (err instanceof WatermarkLagError) report.waiting.push({ invoiceId: id, reason: err.message });
      else report.failed.push({ tenantId: String(d.tenant_id), error: (err as Error).message });
    }
  }
  if (report.failed.length) deps.logger?.error({ failed: report.failed }, 'billing scan: some tenants failed; retried at the next scan');
  if (report.waiting.length) deps.logger?.warn({ waiting: report.waiting }, 'billing scan: drafts past their grace window wait for replica watermarks');
  return report;
}
