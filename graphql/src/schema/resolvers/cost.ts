/** costAttribution: rollup sums -> billing meters -> priced totals -> exact proportional slices. */
import { applyRate, attributeCost, priceComponentFromRow, type UsageSlice } from '../../../../src/billing/index.js';
import type { ApiContext } from '../../context.js';
import { scoped } from '../../context.js';
import { costRows, costRowsByTag, costRowsByTenant, type CostGroupBy, type CostRow } from '../../data/clickhouse.js';
import { pricingForRange, pricingForTenants, type TenantRow } from '../../data/pg.js';
import { CostAttribution, CostSlice, MeterCostType, TenantMargin } from '../types.js';
import { toTenant } from './mappers.js';

export const COST_MAX_SPAN_MS = 93 * 24 * 3_600_000;

const METERS = ['requests', 'items', 'compute_ms_cpu', 'compute_ms_cuda'] as const;

function isCuda(device: string): boolean {
  return device.toLowerCase().startsWith('cuda');
}

interface SliceAcc {
  requests: bigint;
  items: bigint;
  cpuUs: bigint;
  cudaUs: bigint;
}

/** Sums per slice; compute-ms quantities are floored per slice for display, weights keep µs. */
function toSlices(rows: CostRow[]): Map<string, SliceAcc> {
  const slices = new Map<string, SliceAcc>();
  for (const r of rows) {
    let s = slices.get(r.key);
    if (!s) slices.set(r.key, (s = { requests: 0n, items: 0n, cpuUs: 0n, cudaUs: 0n }));
    s.requests += r.requests;
    s.items += r.items;
    if (isCuda(r.device)) s.cudaUs += r.compute_us;
    else s.cpuUs += r.compute_us;
  }
  return slices;
}

export async function attributeCosts(ctx: ApiContext, q: { tenantId: string; from: Date; to: Date; groupBy: CostGroupBy; tagKey: string | null }): Promise<CostAttribution> {
  const ch = ctx.services.clickhouse;
  const [rows, pricing, tenant] = await Promise.all([
    q.groupBy === 'TAG' ? costRowsByTag(ch, { tenantId: q.tenantId, from: q.from, to: q.to, tagKey: q.tagKey ?? '' }) : costRows(ch, { tenantId: q.tenantId, from: q.from, to: q.to, groupBy: q.groupBy }),
    // The plan and prices in force at the start of the range (see planForRange).
    scoped(ctx, (c) => pricingForRange(c, q)),
    ctx.loaders.tenant.load(q.tenantId),
  ]);
  const acc = toSlices(rows);
  const totalCpuUs = [...acc.values()].reduce((a, s) => a + s.cpuUs, 0n);
  const totalCudaUs = [...acc.values()].reduce((a, s) => a + s.cudaUs, 0n);

  const keys = [...acc.keys()];
  // compute_ms meters: the total is floor(total µs / 1000); slices share it by their µs.
  const usageSlices: UsageSlice[] = keys.map((key) => {
    const s = acc.get(key)!;
    return {
      key,
      quantities: { requests: s.requests, items: s.items, compute_ms_cpu: s.cpuUs / 1000n, compute_ms_cuda: s.cudaUs / 1000n },
      weights: { requests: s.requests, items: s.items, compute_ms_cpu: s.cpuUs, compute_ms_cuda: s.cudaUs },
    };
  });
  const components = pricing.components.map((r) => priceComponentFromRow(r as unknown as Record<string, unknown>));
  // Price each meter on the whole range's quantity (not the sum of floored slice quantities).
  const totals: Record<string, bigint> = {
    requests: usageSlices.reduce((a, s) => a + (s.quantities.requests ?? 0n), 0n),
    items: usageSlices.reduce((a, s) => a + (s.quantities.items ?? 0n), 0n),
    compute_ms_cpu: totalCpuUs / 1000n,
    compute_ms_cuda: totalCudaUs / 1000n,
  };
  const attribution = attributeCost({ components, slices: usageSlices, totals });

  const rates = ctx.services.costRates;
  const providerOf = (cpuUs: bigint, cudaUs: bigint) => applyRate(cpuUs, rates.cpu, 1000n) + applyRate(cudaUs, rates.cuda, 1000n);

  const slices = attribution.slices.map((a, i) => {
    const s = acc.get(a.key)!;
    const byMeter = new Map(a.meters.map((m) => [m.meter, m]));
    return Object.assign(new CostSlice(), {
      key: a.key,
      costMicros: a.costMicros,
      providerCostMicros: providerOf(s.cpuUs, s.cudaUs),
      meters: METERS.map((meter) =>
        Object.assign(new MeterCostType(), { meter, quantity: Number(usageSlices[i]!.quantities[meter] ?? 0n), costMicros: byMeter.get(meter)?.costMicros ?? 0n }),
      ),
    });
  });
  const providerCostMicros = slices.reduce((a, s) => a + (s.providerCostMicros ?? 0n), 0n);
  const byMeter = new Map(attribution.meters.map((m) => [m.meter, m]));
  return Object.assign(new CostAttribution(), {
    from: q.from,
    to: q.to,
    groupBy: q.groupBy,
    currency: pricing.components[0]?.currency ?? tenant?.currency ?? 'USD',
    planId: pricing.planId,
    meters: METERS.map((meter) => Object.assign(new MeterCostType(), { meter, quantity: Number(totals[meter] ?? 0n), costMicros: byMeter.get(meter)?.costMicros ?? 0n })),
    slices,
    totalMicros: attribution.totalMicros,
    providerCostMicros,
    marginMicros: attribution.totalMicros - providerCostMicros,
  });
}

/** Charges, provider cost and margin for each tenant of a page (platform): one ClickHouse and one Postgres statement. */
export async function tenantMargins(ctx: ApiContext, q: { tenants: TenantRow[]; from: Date; to: Date }): Promise<TenantMargin[]> {
  const ids = q.tenants.map((t) => t.id);
  const [rows, pricing] = await Promise.all([
    costRowsByTenant(ctx.services.clickhouse, { tenantIds: ids, from: q.from, to: q.to }),
    scoped(ctx, (c) => pricingForTenants(c, { tenantIds: ids, from: q.from, to: q.to })),
  ]);
  const usage = toSlices(rows);
  const rates = ctx.services.costRates;
  return q.tenants.map((t) => {
    const s = usage.get(t.id) ?? { requests: 0n, items: 0n, cpuUs: 0n, cudaUs: 0n };
    const p = pricing.get(t.id) ?? { planId: null, components: [] };
    const quantities = { requests: s.requests, items: s.items, compute_ms_cpu: s.cpuUs / 1000n, compute_ms_cuda: s.cudaUs / 1000n };
    const a = attributeCost({ components: p.components.map((r) => priceComponentFromRow(r as unknown as Record<string, unknown>)), slices: [{ key: t.id, quantities }] });
    const byMeter = new Map(a.meters.map((m) => [m.meter, m]));
    const provider = applyRate(s.cpuUs, rates.cpu, 1000n) + applyRate(s.cudaUs, rates.cuda, 1000n);
    return Object.assign(new TenantMargin(), {
      tenant: toTenant(t),
      planId: p.planId,
      currency: p.components[0]?.currency ?? t.currency,
      meters: METERS.map((meter) => Object.assign(new MeterCostType(), { meter, quantity: Number(quantities[meter]), costMicros: byMeter.get(meter)?.costMicros ?? 0n })),
      totalMicros: a.totalMicros,
      providerCostMicros: provider,
      marginMicros: a.totalMicros - provider,
    });
  });
}
