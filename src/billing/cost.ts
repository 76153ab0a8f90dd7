/**
 * Cost attribution as a domain call: usage from ClickHouse (usage-reader), the plan and price
 * segments from Postgres (plan-segments), priced by segment-pricing. The GraphQL resolvers and the
 * invoice close call this same code, so an invoice and the cost attribution of its period agree.
 */
import type { ClickHouse } from '../clickhouse/index.js';
import { withPlatform, withTenant, type PgPools } from '../db/index.js';
import { applyRate, type DecimalRate } from './attribution.js';
import { pricingSegments, pricingSegmentsForTenants, type PricingSegment } from './plan-segments.js';
import { priceRange, sliceUsage, type RangePrice } from './segment-pricing.js';
import { billableRows, billableRowsByTenant, type CostGroupBy } from './usage-reader.js';

export interface BillingDeps {
  pools: Pick<PgPools, 'app'>;
  clickhouse: ClickHouse;
}

/** Provider-side compute cost rates (micros per compute-ms) for margins. */
export interface CostRates {
  cpu: DecimalRate;
  cuda: DecimalRate;
}

export interface CostReport extends RangePrice {
  from: Date;
  to: Date;
  groupBy: CostGroupBy;
  segments: PricingSegment[];
  /** Provider cost per slice key and in total (zero without rates). */
  providerCostMicros: bigint;
  providerBySlice: Map<string, bigint>;
}

export function providerCost(rates: CostRates | undefined, cpuUs: bigint, cudaUs: bigint): bigint {
  if (!rates) return 0n;
  return applyRate(cpuUs, rates.cpu, 1000n) + applyRate(cudaUs, rates.cuda, 1000n);
}

/**
 * What the tenant's usage in [from, to) costs, sliced by `groupBy`. Included quantities and base
 * fees are prorated against `period` (default: the range itself — an invoice passes its period).
 */
export async function costAttribution(
  deps: BillingDeps,
  q: { tenantId: string; from: Date; to: Date; groupBy: CostGroupBy; tagKey?: string | null; rates?: CostRates; period?: { start: Date; end: Date } },
): Promise<CostReport> {
  const segments = await withTenant(deps.pools.app, { tenantId: q.tenantId }, (c) => pricingSegments(c, { tenantId: q.tenantId, from: q.from, to: q.to }));
  const usage = await Promise.all(
    segments.map((segment) => billableRows(deps.clickhouse, { tenantId: q.tenantId, from: segment.from, to: segment.to, groupBy: q.groupBy, tagKey: q.tagKey ?? null })),
  );
  const price = priceRange({
    periodStart: q.period?.start ?? q.from,
    periodEnd: q.period?.end ?? q.to,
    segments: segments.map((segment, i) => ({ segment, slices: sliceUsage(usage[i]!) })),
  });
  const providerBySlice = new Map(price.slices.map((s) => [s.key, providerCost(q.rates, s.usage.cpuUs, s.usage.cudaUs)]));
  const providerCostMicros = [...providerBySlice.values()].reduce((a, b) => a + b, 0n);
  return { ...price, from: q.from, to: q.to, groupBy: q.groupBy, segments, providerCostMicros, providerBySlice };
}

/**
 * Charges and provider cost for many tenants over one range (platform margins): one Postgres
 * transaction, one ClickHouse read for the tenants priced by a single segment, and a read per
 * segment only for the tenants whose plan or prices changed inside the range.
 */
export async function costByTenant(deps: BillingDeps, q: { tenantIds: readonly string[]; from: Date; to: Date; rates?: CostRates }): Promise<Map<string, CostReport>> {
  const segmentsByTenant = await withPlatform(deps.pools.app, (c) => pricingSegmentsForTenants(c, q));
  const simple = q.tenantIds.filter((id) => (segmentsByTenant.get(id)?.length ?? 0) <= 1);
  const rows = await billableRowsByTenant(deps.clickhouse, { tenantIds: simple, from: q.from, to: q.to });
  const out = new Map<string, CostReport>();
  for (const id of q.tenantIds) {
    const segments = segmentsByTenant.get(id) ?? [];
    let usage: Array<ReturnType<typeof sliceUsage>>;
    if (segments.length <= 1) {
      const mine = rows.filter((r) => r.key === id).map((r) => ({ ...r, key: '' }));
      usage = segments.map(() => sliceUsage(mine));
    } else {
      usage = (await Promise.all(segments.map((s) => billableRows(deps.clickhouse, { tenantId: id, from: s.from, to: s.to, groupBy: 'NONE' })))).map(sliceUsage);
    }
    const price = priceRange({ periodStart: q.from, periodEnd: q.to, segments: segments.map((segment, i) => ({ segment, slices: usage[i]! })) });
    const providerBySlice = new Map(price.slices.map((s) => [s.key, providerCost(q.rates, s.usage.cpuUs, s.usage.cudaUs)]));
    const providerCostMicros = [...providerBySlice.values()].reduce((a, b) => a + b, 0n);
    out.set(id, { ...price, from: q.from, to: q.to, groupBy: 'NONE', segments, providerCostMicros, providerBySlice });
  }
  return out;
}
