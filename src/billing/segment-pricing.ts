/**
 * Pricing a range that spans plan or price changes — the one implementation behind cost
 * attribution, invoices, the upcoming invoice and late-usage adjustments. Rules (README "Billing"):
 * - each meter is priced per *run*: the consecutive segments in which the tenant's plan and that
 *   meter's price component stay the same (a price change of another meter does not cut it);
 * - a run is priced on its own total quantity with its component's tiers; the included quantity is
 *   prorated by the run's share of the period, rounded down (the whole period: no proration);
 * - a run's charge is split across slices by largest remainder, so slices add up to the total;
 * - the recurring base fee is prorated by seconds over the time its plan is really in force.
 */
import { allocateLargestRemainder } from './allocate.js';
import { chargeMicros, roundScaled, type PriceComponent } from './pricing.js';
import type { PricingSegment } from './plan-segments.js';
import type { CostRow } from './usage-reader.js';
import { deviceClass, meterDefinition, meterDefinitions, meters, unitsOfRollup, type Meter } from '../metering/index.js';

/** The usage meters, in the registry's order (src/metering). */
export const USAGE_METERS = meters;
export type UsageMeter = Meter;

export function isCudaDevice(device: string): boolean {
  return deviceClass(device.toLowerCase()) === 'cuda';
}

/** Per-slice counted units of each meter (compute in µs, floored to ms only when priced), and compute per device for provider cost. */
export interface SliceUsage {
  units: Record<string, bigint>;
  cpuUs: bigint;
  cudaUs: bigint;
}

export function emptySliceUsage(): SliceUsage {
  return { units: Object.fromEntries(meters.map((m) => [m, 0n])), cpuUs: 0n, cudaUs: 0n };
}

export function sliceUsage(rows: readonly CostRow[]): Map<string, SliceUsage> {
  const slices = new Map<string, SliceUsage>();
  for (const r of rows) {
    let s = slices.get(r.key);
    if (!s) slices.set(r.key, (s = emptySliceUsage()));
    const sums = { okRequests: r.requests, okItems: r.items, billedComputeUs: r.compute_us, device: r.device };
    for (const d of meterDefinitions) s.units[d.name] = (s.units[d.name] ?? 0n) + unitsOfRollup(d, sums);
    if (isCudaDevice(r.device)) s.cudaUs += r.compute_us;
    else s.cpuUs += r.compute_us;
  }
  return slices;
}

/** Allocation weight of a slice for a meter: its counted units (compute: µs, so slices share the floored total fairly). */
function weightOf(s: SliceUsage, meter: UsageMeter): bigint {
  return s.units[meter] ?? 0n;
}

/** The meter's quantity in its price unit for a sum of counted units: compute is floor(Σ µs / 1000). */
function quantityOf(units: bigint, meter: UsageMeter): bigint {
  return units / BigInt(meterDefinition(meter).scale);
}

export interface MeterCharge {
  meter: UsageMeter;
  /** Total usage of the range (sum over runs), before included quantities. */
  quantity: bigint;
  /** Included quantity granted (prorated per run). */
  includedQuantity: bigint;
  /** Quantity above the included one (sum over runs). */
  billableQuantity: bigint;
  costMicros: bigint;
  /** The component of the last run (null: no price for this meter). */
  componentId: string | null;
  model: string | null;
  runs: Array<{ from: Date; to: Date; planId: string | null; componentId: string | null; quantity: bigint; includedQuantity: bigint; costMicros: bigint }>;
}

export interface SliceCharge {
  key: string;
  costMicros: bigint;
  /** Per meter: the slice's quantity (compute floored from its µs) and its share of the charge. */
  meters: Array<{ meter: UsageMeter; quantity: bigint; costMicros: bigint }>;
  usage: SliceUsage;
}

export interface BaseFeeCharge {
  planId: string;
  componentId: string;
  from: Date;
  to: Date;
  amountMicros: bigint;
}

export interface RangePrice {
  meters: MeterCharge[];
  slices: SliceCharge[];
  /** Usage charges only (what costAttribution reports). */
  totalMicros: bigint;
  baseFees: BaseFeeCharge[];
  baseFeeMicros: bigint;
  currency: string;
  /** The plan in force at the range's start (first segment with a plan). */
  planId: string | null;
}

export interface PricedSegmentInput {
  segment: PricingSegment;
  slices: ReadonlyMap<string, SliceUsage>;
}

/**
 * Prices [periodStart, periodEnd) from its segments and each segment's usage per slice.
 * `periodMs` is the length included quantities and base fees are prorated against.
 */
export function priceRange(input: { periodStart: Date; periodEnd: Date; segments: readonly PricedSegmentInput[] }): RangePrice {
  const periodMs = BigInt(input.periodEnd.getTime() - input.periodStart.getTime());
  const keys = [...new Set(input.segments.flatMap((s) => [...s.slices.keys()]))].sort();
  const sliceCost = new Map<string, Map<UsageMeter, bigint>>(keys.map((k) => [k, new Map()]));
  const meters: MeterCharge[] = [];

  for (const meter of USAGE_METERS) {
    // Runs: consecutive segments with the same plan and the same component for this meter.
    const runs: Array<{ segs: PricedSegmentInput[]; component: PriceComponent | null; planId: string | null }> = [];
    for (const s of input.segments) {
      const component = s.segment.components.find((c) => c.meter === meter) ?? null;
      const last = runs[runs.length - 1];
      if (last && last.planId === s.segment.planId && (last.component?.id ?? null) === (component?.id ?? null)) last.segs.push(s);
      else runs.push({ segs: [s], component, planId: s.segment.planId });
    }
    const charge: MeterCharge = { meter, quantity: 0n, includedQuantity: 0n, billableQuantity: 0n, costMicros: 0n, componentId: null, model: null, runs: [] };
    for (const run of runs) {
      const from = run.segs[0]!.segment.from;
      const to = run.segs[run.segs.length - 1]!.segment.to;
      const runMs = BigInt(to.getTime() - from.getTime());
      const weights = keys.map((k) => run.segs.reduce((a, s) => a + (s.slices.has(k) ? weightOf(s.slices.get(k)!, meter) : 0n), 0n));
      const quantity = quantityOf(
        weights.reduce((a, b) => a + b, 0n),
        meter,
      );
      let cost = 0n;
      let included = 0n;
      if (run.component) {
        included = runMs >= periodMs ? run.component.includedQuantity : (run.component.includedQuantity * runMs) / periodMs;
        cost = chargeMicros({ ...run.component, includedQuantity: included }, quantity);
        charge.componentId = run.component.id;
        charge.model = run.component.model;
      }
      const parts = keys.length ? allocateLargestRemainder(cost, weights) : [];
      keys.forEach((k, i) => {
        const m = sliceCost.get(k)!;
        m.set(meter, (m.get(meter) ?? 0n) + parts[i]!);
      });
      charge.quantity += quantity;
      charge.includedQuantity += run.component ? included : 0n;
      charge.billableQuantity += run.component ? (quantity > included ? quantity - included : 0n) : quantity;
      charge.costMicros += cost;
      charge.runs.push({ from, to, planId: run.planId, componentId: run.component?.id ?? null, quantity, includedQuantity: included, costMicros: cost });
    }
    meters.push(charge);
  }

  const slices: SliceCharge[] = keys.map((key) => {
    const usage = emptySliceUsage();
    for (const s of input.segments) {
      const u = s.slices.get(key);
      if (!u) continue;
      for (const m of USAGE_METERS) usage.units[m] = (usage.units[m] ?? 0n) + (u.units[m] ?? 0n);
      usage.cpuUs += u.cpuUs;
      usage.cudaUs += u.cudaUs;
    }
    const costs = sliceCost.get(key)!;
    const sliceMeters = USAGE_METERS.map((meter) => ({ meter, quantity: quantityOf(weightOf(usage, meter), meter), costMicros: costs.get(meter) ?? 0n }));
    return { key, usage, meters: sliceMeters, costMicros: sliceMeters.reduce((a, m) => a + m.costMicros, 0n) };
  });

  const baseFees: BaseFeeCharge[] = [];
  for (const { segment } of input.segments) {
    if (!segment.baseFee || !segment.planId || !segment.planFrom) continue;
    // Only the time the plan is really in force (the first segment may start before it).
    const start = Math.max(segment.from.getTime(), segment.planFrom.getTime());
    const end = Math.min(segment.to.getTime(), segment.planTo?.getTime() ?? segment.to.getTime());
    if (end <= start) continue;
    const amountMicros = roundScaled((segment.baseFee.unitPrice * BigInt(end - start)) / periodMs);
    const prev = baseFees[baseFees.length - 1];
    // Consecutive segments of one fee (cut by another meter's price change) are one charge.
    if (prev && prev.componentId === segment.baseFee.id && prev.to.getTime() === start) {
      const merged = roundScaled((segment.baseFee.unitPrice * BigInt(end - prev.from.getTime())) / periodMs);
      prev.to = new Date(end);
      prev.amountMicros = merged;
    } else baseFees.push({ planId: segment.planId, componentId: segment.baseFee.id, from: new Date(start), to: new Date(end), amountMicros });
  }

  const withPlan = input.segments.find((s) => s.segment.planId !== null);
  return {
    meters,
    slices,
    totalMicros: meters.reduce((a, m) => a + m.costMicros, 0n),
    baseFees,
    baseFeeMicros: baseFees.reduce((a, f) => a + f.amountMicros, 0n),
    currency: withPlan?.segment.currency ?? input.segments[0]?.segment.currency ?? 'USD',
    planId: withPlan?.segment.planId ?? null,
  };
}
