/** Reads of the Stripe state for the API (run inside the caller's scoped transaction: RLS applies). */
import type pg from 'pg';

export interface StripeInvoiceState {
  invoiceId: string;
  tenantId: string;
  stripeInvoiceId: string | null;
  stripeCustomerId: string | null;
  /** pending | syncing | synced | failed */
  syncState: string;
  /** customer | invoice | items | finalize | done */
  syncStep: string | null;
  itemsSynced: number;
  attempts: number;
  lastError: string | null;
  lastAttemptAt: Date | null;
  syncedAt: Date | null;
  hostedInvoiceUrl: string | null;
  /** What Stripe last said: draft | open | paid | void | uncollectible. */
  stripeStatus: string | null;
  paymentFailedAt: Date | null;
  paidAt: Date | null;
}

export async function stripeStateByInvoiceIds(c: pg.ClientBase, invoiceIds: readonly string[]): Promise<StripeInvoiceState[]> {
  if (invoiceIds.length === 0) return [];
  const { rows } = await c.query(
    `SELECT invoice_id, tenant_id, stripe_invoice_id, stripe_customer_id, sync_state, sync_step, items_synced, attempts, last_error,
            last_attempt_at, synced_at, hosted_invoice_url, stripe_status, payment_failed_at, paid_at
     FROM stripe_invoices WHERE invoice_id = ANY($1::uuid[])`,
    [invoiceIds],
  );
  return rows.map((r) => ({
    invoiceId: String(r.invoice_id),
    tenantId: String(r.tenant_id),
    stripeInvoiceId: r.stripe_invoice_id ?? null,
    stripeCustomerId: r.stripe_customer_id ?? null,
    syncState: String(r.sync_state),
    syncStep: r.sync_step ?? null,
    itemsSynced: Number(r.items_synced),
    attempts: Number(r.attempts),
    lastError: r.last_error ?? null,
    lastAttemptAt: r.last_attempt_at ?? null,
    syncedAt: r.synced_at ?? null,
    hostedInvoiceUrl: r.hosted_invoice_url ?? null,
    stripeStatus: r.stripe_status ?? null,
    paymentFailedAt: r.payment_failed_at ?? null,
    paidAt: r.paid_at ?? null,
  }));
}
