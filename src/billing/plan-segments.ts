/**
 * The pricing segments of a range: [from, to) cut at every plan change and every change of the
 * plan's price components, each with the plan and components in force. Two statements for any
 * number of tenants (plan history, then the components of those plans).
 *
 * Usage before the tenant's first plan (none is imported or served, but a backdated history could
 * leave some) is priced by that first plan, as it always was; the base fee, though, is charged only
 * for the time a plan is really in force (`planFrom`/`planTo`).
 */
import type pg from 'pg';
import { priceComponentFromRow, type PriceComponent } from './pricing.js';

export interface PricingSegment {
  from: Date;
  to: Date;
  /** null: no plan covers this stretch (a gap in the plan history): nothing is charged. */
  planId: string | null;
  /** Where the plan row really starts and ends (the first segment may begin before it). */
  planFrom: Date | null;
  planTo: Date | null;
  currency: string;
  /** Usage price components in force, one per meter. */
  components: PriceComponent[];
  /** The recurring base fee in force: unit price = the fee for a whole billing period. */
  baseFee: PriceComponent | null;
}

interface PlanSpan {
  planId: string;
  from: number;
  to: number | null;
  currency: string;
}

interface ComponentRow {
  planId: string;
  kind: 'usage' | 'base_fee';
  from: number;
  to: number | null;
  component: PriceComponent;
  currency: string;
}

const COMPONENT_COLS = `id, plan_id, kind, meter, model, unit_price_micros::text AS unit_price_micros, tiers::text AS tiers, package_size::text AS package_size,
  included_quantity::text AS included_quantity, currency, effective_from, effective_to`;

/** Segments for many tenants over one range, in one transaction's two statements. */
export async function pricingSegmentsForTenants(c: pg.ClientBase, q: { tenantIds: readonly string[]; from: Date; to: Date }): Promise<Map<string, PricingSegment[]>> {
  const out = new Map<string, PricingSegment[]>();
  if (q.tenantIds.length === 0) return out;
  const plans = await c.query(
    `SELECT tp.tenant_id, tp.plan_id, tp.effective_from, tp.effective_to, p.currency
     FROM tenant_plans tp JOIN plans p ON p.id = tp.plan_id
     WHERE tp.tenant_id = ANY($1::uuid[]) AND tp.effective_from < $3 AND (tp.effective_to IS NULL OR tp.effective_to > $2)
     ORDER BY tp.tenant_id, tp.effective_from`,
    [q.tenantIds, q.from, q.to],
  );
  const planIds = [...new Set(plans.rows.map((r) => String(r.plan_id)))];
  const comps = planIds.length
    ? await c.query(
        `SELECT ${COMPONENT_COLS} FROM price_components
         WHERE plan_id = ANY($1::uuid[]) AND effective_from < $3 AND (effective_to IS NULL OR effective_to > $2)
         ORDER BY plan_id, meter, effective_from`,
        [planIds, q.from, q.to],
      )
    : { rows: [] };
  const byPlan = new Map<string, ComponentRow[]>();
  for (const r of comps.rows) {
    let component: PriceComponent;
    try {
      // A base fee has no meter: it is priced by time, never by a meter's quantity.
      component = priceComponentFromRow({ ...(r as Record<string, unknown>), meter: r.meter ?? 'base_fee' });
    } catch (err) {
      throw new RangeError(`price component ${String(r.id)}: ${(err as Error).message}`, { cause: err });
    }
    const list = byPlan.get(String(r.plan_id)) ?? [];
    list.push({
      planId: String(r.plan_id),
      kind: r.kind === 'base_fee' ? 'base_fee' : 'usage',
      from: (r.effective_from as Date).getTime(),
      to: r.effective_to ? (r.effective_to as Date).getTime() : null,
      component,
      currency: String(r.currency).trim(),
    });
    byPlan.set(String(r.plan_id), list);
  }
  const spansByTenant = new Map<string, PlanSpan[]>();
  for (const r of plans.rows) {
    const id = String(r.tenant_id);
    const list = spansByTenant.get(id) ?? [];
    list.push({ planId: String(r.plan_id), from: (r.effective_from as Date).getTime(), to: r.effective_to ? (r.effective_to as Date).getTime() : null, currency: String(r.currency).trim() });
    spansByTenant.set(id, list);
  }
  for (const id of q.tenantIds) out.set(id, buildSegments(q.from, q.to, spansByTenant.get(id) ?? [], byPlan));
  return out;
}

export async function pricingSegments(c: pg.ClientBase, q: { tenantId: string; from: Date; to: Date }): Promise<PricingSegment[]> {
  return (await pricingSegmentsForTenants(c, { tenantIds: [q.tenantId], from: q.from, to: q.to })).get(q.tenantId) ?? [];
}

/** Pure: cut [from, to) at plan and component changes. Exported for unit tests. */
export function buildSegments(from: Date, to: Date, spans: readonly PlanSpan[], components: ReadonlyMap<string, readonly ComponentRow[]>): PricingSegment[] {
  const a = from.getTime();
  const b = to.getTime();
  if (!(b > a)) return [];
  if (spans.length === 0) return [{ from, to, planId: null, planFrom: null, planTo: null, currency: 'USD', components: [], baseFee: null }];
  const out: PricingSegment[] = [];
  let cursor = a;
  spans.forEach((span, i) => {
    // The first plan also prices anything before it; a gap between plans prices nothing.
    const start = i === 0 ? a : Math.max(a, span.from);
    const end = Math.min(b, span.to ?? b);
    if (start > cursor) out.push({ from: new Date(cursor), to: new Date(start), planId: null, planFrom: null, planTo: null, currency: span.currency, components: [], baseFee: null });
    if (end <= start) return;
    const rows = components.get(span.planId) ?? [];
    const cuts = new Set<number>([start, end]);
    for (const r of rows) {
      if (r.from > start && r.from < end) cuts.add(r.from);
      if (r.to !== null && r.to > start && r.to < end) cuts.add(r.to);
    }
    const points = [...cuts].sort((x, y) => x - y);
    for (let k = 0; k + 1 < points.length; k++) {
      const s = points[k]!;
      // Components are those in force at the segment's start — or at the plan's start for the stretch before it.
      const at = Math.max(s, span.from);
      const inForce = rows.filter((r) => r.from <= at && (r.to === null || r.to > at));
      const usage = inForce.filter((r) => r.kind === 'usage');
      const fee = inForce.find((r) => r.kind === 'base_fee');
      out.push({
        from: new Date(s),
        to: new Date(points[k + 1]!),
        planId: span.planId,
        planFrom: new Date(span.from),
        planTo: span.to === null ? null : new Date(span.to),
        currency: usage[0]?.currency ?? fee?.currency ?? span.currency,
        components: usage.map((r) => r.component),
        baseFee: fee?.component ?? null,
      });
    }
    cursor = end;
  });
  if (cursor < b) out.push({ from: new Date(cursor), to: to, planId: null, planFrom: null, planTo: null, currency: spans[spans.length - 1]!.currency, components: [], baseFee: null });
  return out;
}
