/**
 * Invoice generation for one (tenant, period), idempotent and resumable:
 * 1. claim: insert the period's invoice in status `generating` (the partial unique index on
 *    (tenant, period) for non-void invoices is the last wall: a second worker finds the row);
 * 2. price the period with src/billing costAttribution — the very code behind the costAttribution
 *    query, so invoice lines equal it to the micro;
 * 3. write lines and totals and move to `draft` in one transaction under the row lock; whoever
 *    finds the row no longer `generating` stops. A worker killed between 1 and 3 leaves a
 *    `generating` row that the next close run resumes from step 2.
 */
import type pg from 'pg';
import { costAttribution, formatScaledMicros, type BillingDeps, type CostReport } from '../billing/index.js';
import { withTenant } from '../db/index.js';
import { badInput } from '../shared/index.js';
import { invoiceTotals, roundLineMicros } from './money.js';
import { selectPeriodInvoice, type Invoice, type LineKind } from './repo.js';
import { billingSettings, type BillingSettings } from './settings.js';

export interface GenerateResult {
  invoice: Invoice | null;
  /** created: made now; existing: made before (draft/finalized); skipped: a $0 invoice under a skip policy. */
  outcome: 'created' | 'existing' | 'skipped';
}

export interface NewLine {
  kind: LineKind;
  meter: string;
  model: string;
  description: string;
  quantity: bigint;
  includedQuantity: bigint;
  billableQuantity: bigint;
  unitPriceMicros: string | null;
  amountMicros: bigint;
  adjustsPeriodStart?: Date | null;
  adjustsPeriodEnd?: Date | null;
  metadata: Record<string, unknown>;
}

/** Usage and base-fee lines of a priced period: one per meter with usage (also at amount 0), one per base fee. */
export function linesOf(report: CostReport): NewLine[] {
  const lines: NewLine[] = [];
  for (const f of report.baseFees) {
    lines.push({
      kind: 'base_fee',
      meter: 'base_fee',
      model: 'base_fee',
      description: `base fee ${f.from.toISOString()} – ${f.to.toISOString()}`,
      quantity: 1n,
      includedQuantity: 0n,
      billableQuantity: 1n,
      unitPriceMicros: null,
      amountMicros: f.amountMicros,
      metadata: { planId: f.planId, componentId: f.componentId, from: f.from.toISOString(), to: f.to.toISOString() },
    });
  }
  for (const m of report.meters) {
    if (m.quantity === 0n && m.costMicros === 0n) continue;
    const component = report.segments.flatMap((s) => s.components).find((c) => c.id === m.componentId);
    lines.push({
      kind: 'usage',
      meter: m.meter,
      model: m.model ?? 'none',
      description: m.meter,
      quantity: m.quantity,
      includedQuantity: m.includedQuantity,
      billableQuantity: m.billableQuantity,
      unitPriceMicros: component && (component.model === 'standard' || component.model === 'package') ? formatScaledMicros(component.unitPrice) : null,
      amountMicros: m.costMicros,
      metadata: {
        runs: m.runs.map((r) => ({
          from: r.from.toISOString(),
          to: r.to.toISOString(),
          planId: r.planId,
          componentId: r.componentId,
          quantity: String(r.quantity),
          includedQuantity: String(r.includedQuantity),
          costMicros: String(r.costMicros),
        })),
      },
    });
  }
  return lines;
}

/** Replaces the invoice's lines and totals (inside the caller's transaction, invoice row locked). */
export async function writeLines(c: pg.ClientBase, q: { invoice: Pick<Invoice, 'id' | 'tenantId' | 'currency'>; lines: readonly NewLine[]; taxRate: string }): Promise<{ subtotalMicros: bigint; taxMicros: bigint; totalMicros: bigint }> {
  await c.query('DELETE FROM invoice_lines WHERE invoice_id = $1', [q.invoice.id]);
  const rounded = q.lines.map((l) => roundLineMicros(l.amountMicros, q.invoice.currency));
  if (q.lines.length) {
    await c.query(
      `INSERT INTO invoice_lines (invoice_id, tenant_id, line_no, kind, meter, model, description, quantity, included_quantity, billable_quantity,
         unit_price_micros, amount_micros, rounded_micros, adjusts_period_start, adjusts_period_end, metadata)
       SELECT $1, $2, l.no, l.kind, l.meter, l.model, l.description, l.quantity, l.included, l.billable, l.unit_price, l.amount, l.rounded, l.adj_start, l.adj_end, l.metadata
       FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[], $12::bigint[], $13::bigint[],
                   $14::timestamptz[], $15::timestamptz[], $16::jsonb[])
         AS l(no, kind, meter, model, description, quantity, included, billable, unit_price, amount, rounded, adj_start, adj_end, metadata)`,
      [
        q.invoice.id,
        q.invoice.tenantId,
        q.lines.map((_, i) => i + 1),
        q.lines.map((l) => l.kind),
        q.lines.map((l) => l.meter),
        q.lines.map((l) => l.model),
        q.lines.map((l) => l.description),
        q.lines.map((l) => l.quantity.toString()),
        q.lines.map((l) => l.includedQuantity.toString()),
        q.lines.map((l) => l.billableQuantity.toString()),
        q.lines.map((l) => l.unitPriceMicros),
        q.lines.map((l) => l.amountMicros.toString()),
        rounded.map((r) => r.toString()),
        q.lines.map((l) => l.adjustsPeriodStart ?? null),
        q.lines.map((l) => l.adjustsPeriodEnd ?? null),
        q.lines.map((l) => JSON.stringify(l.metadata)),
      ],
    );
  }
  return invoiceTotals(rounded, q.taxRate, q.invoice.currency);
}

export interface GenerateDeps extends BillingDeps {
  /** Extra lines for a new draft (late-usage adjustments of earlier periods, …); called inside generation. */
  extraLines?: (q: { tenantId: string; periodStart: Date; periodEnd: Date; currency: string }) => Promise<NewLine[]>;
}

async function claim(c: pg.ClientBase, q: { tenantId: string; start: Date; end: Date }): Promise<{ invoice: Invoice; claimed: boolean }> {
  const inserted = await c.query(
    `INSERT INTO invoices (tenant_id, period_start, period_end, status, generation_started_at)
     VALUES ($1, $2, $3, 'generating', now())
     ON CONFLICT (tenant_id, period_start, period_end) WHERE status <> 'void' DO NOTHING
     RETURNING id`,
    [q.tenantId, q.start, q.end],
  );
  const invoice = await selectPeriodInvoice(c, { tenantId: q.tenantId, periodStart: q.start, periodEnd: q.end });
  if (!invoice) throw new Error(`invoice of ${q.tenantId} ${q.start.toISOString()} vanished while claiming`);
  return { invoice, claimed: inserted.rowCount === 1 };
}

/**
 * The invoice of (tenant, period): made now from ClickHouse usage, or the one made before.
 * `now` guards against closing a period that has not ended.
 */
export async function generateInvoice(deps: GenerateDeps, q: { tenantId: string; period: { start: Date; end: Date }; now?: Date; regeneratedFrom?: string }): Promise<GenerateResult> {
  const now = q.now ?? new Date();
  if (q.period.end.getTime() > now.getTime()) throw badInput(`the period ${q.period.start.toISOString()} – ${q.period.end.toISOString()} has not ended`);
  const { invoice: claimed } = await withTenant(deps.pools.app, { tenantId: q.tenantId }, (c) => claim(c, { tenantId: q.tenantId, start: q.period.start, end: q.period.end }));
  if (claimed.status !== 'generating') return { invoice: claimed, outcome: 'existing' };

  // Outside any transaction: ClickHouse reads can take a while and must not hold row locks.
  const report = await costAttribution(deps, { tenantId: q.tenantId, from: q.period.start, to: q.period.end, groupBy: 'NONE', period: q.period });
  const settings = await billingSettings(deps, { tenantId: q.tenantId, at: q.period.end });
  const lines = linesOf(report);
  const extra = deps.extraLines ? await deps.extraLines({ tenantId: q.tenantId, periodStart: q.period.start, periodEnd: q.period.end, currency: report.currency }) : [];

  return withTenant(deps.pools.app, { tenantId: q.tenantId }, async (c) => {
    const current = await selectPeriodInvoice(c, { tenantId: q.tenantId, periodStart: q.period.start, periodEnd: q.period.end, forUpdate: true });
    if (!current) return { invoice: null, outcome: 'skipped' as const };
    if (current.id !== claimed.id || current.status !== 'generating') return { invoice: current, outcome: 'existing' as const };
    const all = [...lines, ...extra];
    if (!settings.issueZeroInvoices && all.every((l) => l.amountMicros === 0n)) {
      // $0 under a skip policy: no invoice (a later close run decides again from the same usage).
      await c.query(`DELETE FROM invoices WHERE id = $1 AND status = 'generating'`, [current.id]);
      return { invoice: null, outcome: 'skipped' as const };
    }
    await c.query('UPDATE invoices SET currency = $2 WHERE id = $1', [current.id, report.currency]);
    const totals = await writeLines(c, { invoice: { ...current, currency: report.currency }, lines: all, taxRate: settings.taxRate });
    const graceEndsAt = new Date(q.period.end.getTime() + settings.graceHours * 3_600_000);
    const { rows } = await c.query(
      `UPDATE invoices SET status = 'draft', plan_id = $2, subtotal_micros = $3, tax_micros = $4, total_micros = $5, amount_due_micros = $5, tax_rate = $6::numeric,
         grace_ends_at = $7, refreshed_at = now(), regenerated_from = COALESCE($8::uuid, regenerated_from)
       WHERE id = $1 RETURNING id`,
      [current.id, report.planId, totals.subtotalMicros, totals.taxMicros, totals.totalMicros, settings.taxRate, graceEndsAt, q.regeneratedFrom ?? null],
    );
    if (rows.length !== 1) throw new Error('invoice row lost during generation');
    const done = await selectPeriodInvoice(c, { tenantId: q.tenantId, periodStart: q.period.start, periodEnd: q.period.end });
    return { invoice: done, outcome: 'created' as const };
  });
}

export type { BillingSettings };
