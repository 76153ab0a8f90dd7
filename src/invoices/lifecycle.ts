/**
 * The invoice lifecycle after generation (README "Billing"):
 * - a `draft` is refreshed from ClickHouse during its grace window (late usage lands in it);
 * - `finalize` (after the grace window by the worker, or earlier by an operator) refreshes once
 *   more, applies the credit balance, takes the next number under the locked counter row and
 *   freezes the invoice — refused while a live replica's WAL has not flushed past the period end,
 *   unless forced (audited);
 * - `void` (finalized, unpaid, with a reason) gives back the credit applied; a voided period can
 *   be regenerated;
 * - usage that reaches ClickHouse for a finalized period later becomes an adjustment line on the
 *   tenant's next invoice, priced marginally under that period's plan.
 */
import type pg from 'pg';
import { costAttribution, type BillingDeps } from '../billing/index.js';
import { recordAudit, auditFrom, type Actor } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { isUuid, withPlatform, withTenant } from '../db/index.js';
import { AppError, badInput, notFound, type Redis } from '../shared/index.js';
import { judgeWatermarks, readWatermarks, type ReplicaWatermark } from '../usage/index.js';
import { generateInvoice, linesOf, writeLines, type GenerateResult, type NewLine } from './generate.js';
import { getInvoiceForPlatform, selectInvoice, selectPeriodInvoice, type Invoice, type InvoiceWithLines } from './repo.js';
import { billingSettings } from './settings.js';

export interface LifecycleDeps extends BillingDeps {
  /** For the replicas' flushed-through watermarks; without it nothing blocks finalization. */
  redis?: Pick<Redis, 'hgetall'> | null;
  config: Pick<Config, 'REDIS_PREFIX' | 'INVOICE_NUMBER_PREFIX' | 'USAGE_WATERMARK_SILENCE_MS'>;
}

/** How far back late usage of finalized periods is looked for (older rollups may be dropped by retention). */
export const LATE_USAGE_LOOKBACK_MS = 93 * 86_400_000;

const conflict = (message: string, details?: Record<string, unknown>) => new AppError('CONFLICT', message, details);

// ------------------------------------------------------------------ late usage

/**
 * Adjustment lines for usage that reached ClickHouse after a period was finalized: each
 * finalized period of the last LATE_USAGE_LOOKBACK_MS ending before `before` is re-priced under
 * its own plan; per meter, the re-priced amount minus what was billed for it (its invoice's usage
 * lines plus adjustments on other live invoices) becomes a line naming the period. Only positive
 * differences: usage is never deleted, so less usage means retention dropped rows, not a refund.
 */
export async function lateUsageLines(deps: BillingDeps, q: { tenantId: string; before: Date; excludeInvoiceId: string | null }): Promise<NewLine[]> {
  const finalized = await withTenant(deps.pools.app, { tenantId: q.tenantId }, async (c) => {
    const { rows } = await c.query(
      `SELECT i.period_start, i.period_end,
         COALESCE((SELECT json_object_agg(meter, s) FROM (
           SELECT l.meter, sum(l.amount_micros)::text AS s FROM invoice_lines l JOIN invoices j ON j.id = l.invoice_id
           WHERE j.tenant_id = i.tenant_id AND j.status IN ('draft', 'finalized') AND j.id IS DISTINCT FROM $3::uuid
             AND ((j.id = i.id AND l.kind = 'usage') OR (l.kind = 'adjustment' AND l.adjusts_period_start = i.period_start AND l.adjusts_period_end = i.period_end))
           GROUP BY l.meter) b), '{}'::json) AS billed,
         COALESCE((SELECT json_object_agg(meter, q) FROM (
           SELECT l.meter, sum(l.quantity)::text AS q FROM invoice_lines l JOIN invoices j ON j.id = l.invoice_id
           WHERE j.tenant_id = i.tenant_id AND j.status IN ('draft', 'finalized') AND j.id IS DISTINCT FROM $3::uuid
             AND ((j.id = i.id AND l.kind = 'usage') OR (l.kind = 'adjustment' AND l.adjusts_period_start = i.period_start AND l.adjusts_period_end = i.period_end))
           GROUP BY l.meter) b), '{}'::json) AS billed_quantity
       FROM invoices i
       WHERE i.tenant_id = $1 AND i.status = 'finalized' AND i.period_end <= $2 AND i.period_end > $4
       ORDER BY i.period_start`,
      [q.tenantId, q.before, q.excludeInvoiceId, new Date(q.before.getTime() - LATE_USAGE_LOOKBACK_MS)],
    );
    return rows as Array<{ period_start: Date; period_end: Date; billed: Record<string, string>; billed_quantity: Record<string, string> }>;
  });
  const lines: NewLine[] = [];
  for (const p of finalized) {
    const report = await costAttribution(deps, { tenantId: q.tenantId, from: p.period_start, to: p.period_end, groupBy: 'NONE' });
    for (const m of report.meters) {
      const billed = BigInt(p.billed[m.meter] ?? '0');
      const billedQuantity = BigInt((p.billed_quantity[m.meter] ?? '0').split('.')[0]!);
      const delta = m.costMicros - billed;
      const extra = m.quantity - billedQuantity;
      if (extra <= 0n) continue;
      lines.push({
        kind: 'adjustment',
        meter: m.meter,
        model: m.model ?? 'none',
        description: `late usage of ${p.period_start.toISOString()} – ${p.period_end.toISOString()}`,
        quantity: extra,
        includedQuantity: 0n,
        billableQuantity: extra,
        unitPriceMicros: null,
        amountMicros: delta > 0n ? delta : 0n,
        adjustsPeriodStart: p.period_start,
        adjustsPeriodEnd: p.period_end,
        metadata: { repricedMicros: String(m.costMicros), billedMicros: String(billed), repricedQuantity: String(m.quantity), billedQuantity: String(billedQuantity) },
      });
    }
  }
  return lines;
}

/** All lines of a period's invoice as of now: usage and base fees, plus late-usage adjustments of earlier periods. */
async function currentLines(deps: BillingDeps, inv: Pick<Invoice, 'id' | 'tenantId' | 'periodStart' | 'periodEnd'>): Promise<{ lines: NewLine[]; currency: string; planId: string | null }> {
  const period = { start: inv.periodStart, end: inv.periodEnd };
  const report = await costAttribution(deps, { tenantId: inv.tenantId, from: period.start, to: period.end, groupBy: 'NONE', period });
  const late = await lateUsageLines(deps, { tenantId: inv.tenantId, before: period.start, excludeInvoiceId: inv.id });
  return { lines: [...linesOf(report), ...late], currency: report.currency, planId: report.planId };
}

/** Generation with late-usage adjustments of earlier finalized periods on the new draft. */
export function generateWithAdjustments(deps: BillingDeps, q: { tenantId: string; period: { start: Date; end: Date }; now?: Date; regeneratedFrom?: string }): Promise<GenerateResult> {
  return generateInvoice({ ...deps, extraLines: (p) => lateUsageLines(deps, { tenantId: p.tenantId, before: p.periodStart, excludeInvoiceId: null }) }, q);
}

// ------------------------------------------------------------------ refresh

/** Re-prices a draft from ClickHouse (late usage within the grace window lands in it). No-op unless draft. */
export async function refreshDraft(deps: BillingDeps, q: { invoiceId: string }): Promise<Invoice | null> {
  const inv = await withPlatform(deps.pools.app, (c) => selectInvoice(c, { id: q.invoiceId }));
  if (!inv || inv.status !== 'draft') return inv;
  const { lines, currency } = await currentLines(deps, inv);
  const settings = await billingSettings(deps, { tenantId: inv.tenantId, at: inv.periodEnd });
  return withTenant(deps.pools.app, { tenantId: inv.tenantId }, async (c) => {
    const locked = await selectInvoice(c, { id: inv.id, forUpdate: true });
    if (!locked || locked.status !== 'draft') return locked;
    const totals = await writeLines(c, { invoice: { ...locked, currency }, lines, taxRate: settings.taxRate });
    await c.query(
      `UPDATE invoices SET currency = $2, subtotal_micros = $3, tax_micros = $4, total_micros = $5, amount_due_micros = $5, tax_rate = $6::numeric, refreshed_at = now() WHERE id = $1`,
      [inv.id, currency, totals.subtotalMicros, totals.taxMicros, totals.totalMicros, settings.taxRate],
    );
    return selectInvoice(c, { id: inv.id });
  });
}

// ------------------------------------------------------------------ finalize

export class WatermarkLagError extends AppError {
  override readonly name = 'WatermarkLagError';
}

/** Replicas holding the period open: live ones whose WAL has not flushed past its end. */
export async function watermarkVerdict(deps: Pick<LifecycleDeps, 'redis' | 'config'>, q: { periodEnd: Date; now: Date }): Promise<{ lagging: ReplicaWatermark[]; silent: ReplicaWatermark[] }> {
  if (!deps.redis) return { lagging: [], silent: [] };
  const all = await readWatermarks(deps.redis, deps.config);
  return judgeWatermarks(all, { instant: q.periodEnd, now: q.now, silenceMs: deps.config.USAGE_WATERMARK_SILENCE_MS });
}

async function nextNumber(c: pg.ClientBase, prefix: string, at: Date): Promise<string> {
  await c.query('INSERT INTO invoice_number_counters (issuer) VALUES ($1) ON CONFLICT (issuer) DO NOTHING', [prefix]);
  // The row lock serialises finalizations; a rollback gives the number back (no gap).
  const { rows } = await c.query<{ n: string }>('UPDATE invoice_number_counters SET last_value = last_value + 1 WHERE issuer = $1 RETURNING last_value::text AS n', [prefix]);
  return `${prefix}-${at.getUTCFullYear()}-${rows[0]!.n.padStart(6, '0')}`;
}

/**
 * Finalizes a draft: refresh, credit balance, number, freeze. A finalized invoice is returned as
 * it is (idempotent); void or still generating is an error. `tenantId` scopes a tenant caller.
 */
export async function finalizeInvoice(
  deps: LifecycleDeps,
  q: { invoiceId: string; tenantId?: string; force?: boolean; actor: Actor; now?: Date; automatic?: boolean },
): Promise<InvoiceWithLines> {
  const now = q.now ?? new Date();
  if (!isUuid(q.invoiceId)) throw notFound('invoice not found');
  const inv = await withPlatform(deps.pools.app, (c) => selectInvoice(c, { id: q.invoiceId, tenantId: q.tenantId }));
  if (!inv) throw notFound('invoice not found');
  if (inv.status === 'finalized') return (await getInvoiceForPlatform(deps, { id: inv.id }))!;
  if (inv.status === 'void') throw badInput(`invoice ${inv.id} is void; regenerate its period instead`);
  if (inv.status === 'generating') throw conflict(`invoice ${inv.id} is still being generated; retry when it is a draft`);
  if (inv.periodEnd.getTime() > now.getTime()) throw badInput(`the period of invoice ${inv.id} has not ended`);

  const verdict = await watermarkVerdict(deps, { periodEnd: inv.periodEnd, now });
  if (verdict.lagging.length > 0 && !q.force) {
    throw new WatermarkLagError('CONFLICT', `usage of the period may still be in flight: ${verdict.lagging.map((w) => `replica ${w.walId} has flushed only through ${w.flushedThrough.toISOString()}`).join('; ')} (period end ${inv.periodEnd.toISOString()}); retry later, or force`, {
      lagging: verdict.lagging.map((w) => ({ replica: w.walId, flushedThrough: w.flushedThrough.toISOString(), seenAt: w.seenAt.toISOString() })),
      silent: verdict.silent.map((w) => w.walId),
    });
  }

  const { lines, currency } = await currentLines(deps, inv);
  const settings = await billingSettings(deps, { tenantId: inv.tenantId, at: inv.periodEnd });
  await withTenant(deps.pools.app, { tenantId: inv.tenantId }, async (c) => {
    const locked = await selectInvoice(c, { id: inv.id, forUpdate: true });
    if (!locked) throw notFound('invoice not found');
    if (locked.status === 'finalized') return;
    if (locked.status !== 'draft') throw conflict(`invoice ${inv.id} is ${locked.status}`);
    const totals = await writeLines(c, { invoice: { ...locked, currency }, lines, taxRate: settings.taxRate });
    // The tenant's credit balance in this currency pays first (like a Stripe customer balance).
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`credit-balance:${inv.tenantId}`]);
    const bal = await c.query<{ b: string }>('SELECT COALESCE(sum(amount_micros), 0)::text AS b FROM credit_balance_entries WHERE tenant_id = $1 AND currency = $2', [inv.tenantId, currency]);
    const balance = BigInt(bal.rows[0]!.b);
    const applied = balance > 0n && totals.totalMicros > 0n ? (balance < totals.totalMicros ? balance : totals.totalMicros) : 0n;
    if (applied > 0n) {
      await c.query('INSERT INTO credit_balance_entries (tenant_id, amount_micros, currency, invoice_id) VALUES ($1, $2, $3, $4)', [inv.tenantId, (-applied).toString(), currency, inv.id]);
    }
    const number = await nextNumber(c, deps.config.INVOICE_NUMBER_PREFIX, now);
    await c.query(
      `UPDATE invoices SET currency = $2, subtotal_micros = $3, tax_micros = $4, total_micros = $5, tax_rate = $6::numeric, credit_applied_micros = $7,
         amount_due_micros = $8, number = $9, status = 'finalized', finalized_at = $10, finalized_by = $11, forced = $12, refreshed_at = now()
       WHERE id = $1`,
      [inv.id, currency, totals.subtotalMicros, totals.taxMicros, totals.totalMicros, settings.taxRate, applied, totals.totalMicros - applied, number, now, `${q.actor.type}:${q.actor.id}`, Boolean(q.force && verdict.lagging.length > 0)],
    );
    await recordAudit(
      c,
      auditFrom(q.actor, {
        tenantId: inv.tenantId,
        action: 'invoice.finalize',
        targetType: 'invoice',
        targetId: inv.id,
        before: { status: 'draft' },
        after: {
          status: 'finalized',
          number,
          totalMicros: totals.totalMicros.toString(),
          creditAppliedMicros: applied.toString(),
          automatic: Boolean(q.automatic),
          forced: Boolean(q.force && verdict.lagging.length > 0),
          laggingReplicas: verdict.lagging.map((w) => ({ replica: w.walId, flushedThrough: w.flushedThrough.toISOString() })),
          silentReplicas: verdict.silent.map((w) => w.walId),
        },
      }),
    );
  });
  return (await getInvoiceForPlatform(deps, { id: inv.id }))!;
}

// ------------------------------------------------------------------ void / regenerate

/** Voids a finalized, unpaid invoice (with a reason); the credit balance it used is given back. */
export async function voidInvoice(deps: Pick<BillingDeps, 'pools'>, q: { invoiceId: string; tenantId?: string; reason: string; actor: Actor; now?: Date }): Promise<InvoiceWithLines> {
  const reason = q.reason.trim();
  if (!reason) throw badInput('a void needs a reason');
  if (reason.length > 500) throw badInput('reason: at most 500 characters');
  if (!isUuid(q.invoiceId)) throw notFound('invoice not found');
  await withPlatform(deps.pools.app, async (c) => {
    const inv = await selectInvoice(c, { id: q.invoiceId, tenantId: q.tenantId, forUpdate: true });
    if (!inv) throw notFound('invoice not found');
    if (inv.status === 'void') throw badInput(`invoice ${inv.id} is already void`);
    if (inv.status !== 'finalized') throw badInput(`only a finalized invoice can be voided (invoice ${inv.id} is ${inv.status}); a draft is refreshed or finalized`);
    if (inv.paymentStatus === 'paid') throw badInput(`invoice ${inv.id} is paid and cannot be voided; issue a refund credit note`);
    const notes = await c.query('SELECT 1 FROM credit_notes WHERE invoice_id = $1 LIMIT 1', [inv.id]);
    if (notes.rowCount) throw badInput(`invoice ${inv.id} has credit notes and cannot be voided`);
    await c.query('DELETE FROM credit_balance_entries WHERE invoice_id = $1', [inv.id]);
    await c.query(`UPDATE invoices SET status = 'void', voided_at = $2, void_reason = $3 WHERE id = $1`, [inv.id, q.now ?? new Date(), reason]);
    await recordAudit(c, auditFrom(q.actor, { tenantId: inv.tenantId, action: 'invoice.void', targetType: 'invoice', targetId: inv.id, before: { status: inv.status }, after: { status: 'void', reason } }));
  });
  return (await getInvoiceForPlatform(deps, { id: q.invoiceId }))!;
}

/** A new draft for the period of a void invoice, priced from ClickHouse as of now. */
export async function regenerateInvoice(deps: BillingDeps, q: { invoiceId: string; tenantId?: string; actor: Actor; now?: Date }): Promise<InvoiceWithLines> {
  const inv = isUuid(q.invoiceId) ? await withPlatform(deps.pools.app, (c) => selectInvoice(c, { id: q.invoiceId, tenantId: q.tenantId })) : null;
  if (!inv) throw notFound('invoice not found');
  if (inv.status !== 'void') throw badInput(`only a void invoice's period can be regenerated (invoice ${inv.id} is ${inv.status})`);
  const live = await withPlatform(deps.pools.app, (c) => selectPeriodInvoice(c, { tenantId: inv.tenantId, periodStart: inv.periodStart, periodEnd: inv.periodEnd }));
  if (live) throw badInput(`the period of invoice ${inv.id} already has invoice ${live.id} (${live.status})`);
  const r = await generateWithAdjustments(deps, { tenantId: inv.tenantId, period: { start: inv.periodStart, end: inv.periodEnd }, now: q.now, regeneratedFrom: inv.id });
  if (!r.invoice) throw badInput('the period has a $0 invoice under a skip policy: nothing was issued');
  await withPlatform(deps.pools.app, (c) =>
    recordAudit(c, auditFrom(q.actor, { tenantId: inv.tenantId, action: 'invoice.regenerate', targetType: 'invoice', targetId: r.invoice!.id, before: { voided: inv.id }, after: { id: r.invoice!.id, outcome: r.outcome } })),
  );
  return (await getInvoiceForPlatform(deps, { id: r.invoice.id }))!;
}
