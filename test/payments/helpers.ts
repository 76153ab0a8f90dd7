/** Test helpers for src/payments: invoices rows to collect, and signed webhook deliveries. */
import Stripe from 'stripe';
import { withPlatform, type PgPools } from '../../src/db/index.js';

/** A finalized-looking Tollgate invoice row for `tenantId` (the invoices module owns the real lifecycle). */
let months = 0;
export async function insertInvoice(pools: Pick<PgPools, 'app'>, tenantId: string): Promise<string> {
  // One live invoice per (tenant, period): each call takes the next month.
  const m = months++;
  const start = new Date(Date.UTC(2020, m, 1));
  const end = new Date(Date.UTC(2020, m + 1, 1));
  const { rows } = await withPlatform(pools.app, (c) => c.query<{ id: string }>('INSERT INTO invoices (tenant_id, period_start, period_end) VALUES ($1, $2, $3) RETURNING id', [tenantId, start, end]));
  return rows[0]!.id;
}

/** Posts `payload` to the webhook URL signed with `secret` at `timestamp` (default now); returns status and JSON body. */
export async function postEvent(url: string, payload: string, opts: { secret: string; timestamp?: number; signature?: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const signature = opts.signature ?? Stripe.webhooks.generateTestHeaderString({ payload, secret: opts.secret, timestamp: opts.timestamp ?? Math.floor(Date.now() / 1000) });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature }, body: payload });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * A finalized Tollgate invoice with one line per amount (micros, whole cents), as the invoices
 * module leaves one: lines written while draft, then numbered and finalized.
 */
export async function insertFinalizedInvoice(
  pools: Pick<PgPools, 'app'>,
  tenantId: string,
  amounts: bigint[],
  opts: { taxMicros?: bigint; creditAppliedMicros?: bigint } = {},
): Promise<{ id: string; lineIds: string[]; totalMicros: bigint }> {
  const m = months++;
  const subtotal = amounts.reduce((a, b) => a + b, 0n);
  const tax = opts.taxMicros ?? 0n;
  const total = subtotal + tax;
  const due = total - (opts.creditAppliedMicros ?? 0n);
  return withPlatform(pools.app, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO invoices (tenant_id, period_start, period_end, subtotal_micros, tax_micros, total_micros, credit_applied_micros, amount_due_micros)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
      [tenantId, new Date(Date.UTC(2020, m, 1)), new Date(Date.UTC(2020, m + 1, 1)), String(subtotal), String(tax), String(total), String(opts.creditAppliedMicros ?? 0n), String(due)],
    );
    const id = rows[0]!.id;
    const lineIds: string[] = [];
    for (const [i, a] of amounts.entries()) {
      const l = await c.query<{ id: string }>(
        `INSERT INTO invoice_lines (invoice_id, tenant_id, line_no, meter, model, description, quantity, amount_micros, rounded_micros) VALUES ($1, $2, $3, 'requests', 'standard', $4, 1, $5, $5) RETURNING id::text AS id`,
        [id, tenantId, i + 1, `line ${i + 1}`, String(a)],
      );
      lineIds.push(l.rows[0]!.id);
    }
    await c.query(`UPDATE invoices SET status = 'finalized', number = $2, finalized_at = now() WHERE id = $1`, [id, `TG-T-${id.slice(0, 8)}`]);
    return { id, lineIds, totalMicros: total };
  });
}

/** A credit note on an invoice, as the invoices module records one (type credit: a balance; refund: money back). */
export async function insertCreditNote(pools: Pick<PgPools, 'app'>, q: { tenantId: string; invoiceId: string; type: 'credit' | 'refund'; amountMicros: bigint; reason?: string }): Promise<string> {
  const { rows } = await withPlatform(pools.app, (c) =>
    c.query<{ id: string }>(
      `INSERT INTO credit_notes (invoice_id, tenant_id, number, amount_micros, reason, type) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
      [q.invoiceId, q.tenantId, `CN-T-${q.invoiceId.slice(0, 8)}-${q.type}-${months++}`, String(q.amountMicros), q.reason ?? 'test', q.type],
    ),
  );
  return rows[0]!.id;
}
