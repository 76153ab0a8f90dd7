/** costAttribution and tenantMargins: translation of src/billing's cost reports into GraphQL types. */
import { costAttribution, costByTenant, type CostGroupBy, type CostReport } from '../../../../src/billing/index.js';
import type { ApiContext } from '../../context.js';
import type { TenantRow } from '../../data/pg.js';
import { CostAttribution, CostSlice, MeterCostType, TenantMargin } from '../types.js';
import { toTenant } from './mappers.js';

export const COST_MAX_SPAN_MS = 93 * 24 * 3_600_000;

function meterTypes(meters: ReadonlyArray<{ meter: string; quantity: bigint; costMicros: bigint }>): MeterCostType[] {
  return meters.map((m) => Object.assign(new MeterCostType(), { meter: m.meter, quantity: Number(m.quantity), costMicros: m.costMicros }));
}

function currencyOf(report: CostReport, fallback: string | undefined): string {
  return report.planId ? report.currency : (fallback ?? report.currency);
}

export async function attributeCosts(ctx: ApiContext, q: { tenantId: string; from: Date; to: Date; groupBy: Exclude<CostGroupBy, 'NONE'>; tagKey: string | null }): Promise<CostAttribution> {
  const [report, tenant] = await Promise.all([
    costAttribution(ctx.services, { ...q, rates: ctx.services.costRates }),
    ctx.loaders.tenant.load(q.tenantId),
  ]);
  const slices = report.slices.map((s) =>
    Object.assign(new CostSlice(), { key: s.key, costMicros: s.costMicros, providerCostMicros: report.providerBySlice.get(s.key) ?? 0n, meters: meterTypes(s.meters) }),
  );
  return Object.assign(new CostAttribution(), {
    from: q.from,
    to: q.to,
    groupBy: q.groupBy,
    currency: currencyOf(report, tenant?.currency),
    planId: report.planId,
    meters: meterTypes(report.meters),
    slices,
    totalMicros: report.totalMicros,
    providerCostMicros: report.providerCostMicros,
    marginMicros: report.totalMicros - report.providerCostMicros,
  });
}

/** Charges, provider cost and margin for each tenant of a page (platform). */
export async function tenantMargins(ctx: ApiContext, q: { tenants: TenantRow[]; from: Date; to: Date }): Promise<TenantMargin[]> {
  const reports = await costByTenant(ctx.services, { tenantIds: q.tenants.map((t) => t.id), from: q.from, to: q.to, rates: ctx.services.costRates });
  return q.tenants.map((t) => {
    const r = reports.get(t.id)!;
    return Object.assign(new TenantMargin(), {
      tenant: toTenant(t),
      planId: r.planId,
      currency: currencyOf(r, t.currency),
      meters: meterTypes(r.meters),
      totalMicros: r.totalMicros,
      providerCostMicros: r.providerCostMicros,
      marginMicros: r.totalMicros - r.providerCostMicros,
    });
  });
}
