/**
 * An invoice's payment status as the payment processor reports it. Only a finalized invoice has
 * one to change (drafts are not sent for payment, void ones are closed); `paid` is final — a
 * late `failed` or `uncollectible` (an out-of-order delivery) does not undo a payment.
 */
import type pg from 'pg';
import type { PaymentStatus } from './repo.js';

export async function setInvoicePaymentStatus(
  c: pg.ClientBase,
  q: { invoiceId: string; tenantId: string; paymentStatus: Exclude<PaymentStatus, 'pending'>; paidAt?: Date },
): Promise<{ changed: boolean; before: PaymentStatus | null }> {
  const { rows } = await c.query<{ before: PaymentStatus }>(
    `UPDATE invoices i SET payment_status = $3,
            paid_at = CASE WHEN $3 = 'paid' THEN COALESCE($4, now()) ELSE i.paid_at END
       FROM (SELECT id, payment_status AS before FROM invoices WHERE id = $1 AND tenant_id = $2 FOR UPDATE) old
      WHERE i.id = old.id AND i.status = 'finalized' AND i.payment_status NOT IN ('paid', $3)
      RETURNING old.before`,
    [q.invoiceId, q.tenantId, q.paymentStatus, q.paidAt ?? null],
  );
  return rows[0] ? { changed: true, before: rows[0].before } : { changed: false, before: null };
}
