/**
 * Credit notes to Stripe, once their invoice is there. A `credit` note is already a Tollgate
 * balance (applied to a later invoice), so Stripe records it with `out_of_band_amount` — the
 * money is not given a second time; a `refund` goes as `refund_amount` (Stripe refunds the
 * payment). Idempotent like the invoice sync: key `tollgate:credit_note:<id>:create`, and the
 * invoice's credit notes are listed by `tollgate_credit_note_id` metadata before creating.
 */
import type Stripe from 'stripe';
import { withPlatform } from '../db/index.js';
import { resolveAlertByKey, upsertAlert } from '../alerts/index.js';
import { callStripe, retryPolicy } from './client.js';
import { SyncRefused, type SyncDeps } from './sync.js';

export interface SyncableCreditNote {
  id: string;
  tenantId: string;
  invoiceId: string;
  number: string;
  type: 'credit' | 'refund';
  amountMicros: bigint;
  currency: string;
  reason: string;
}

export interface CreditNoteSyncDeps extends SyncDeps {
  loadCreditNote(creditNoteId: string): Promise<SyncableCreditNote | null>;
}

export interface SyncedCreditNote {
  creditNoteId: string;
  stripeCreditNoteId: string;
  type: 'credit' | 'refund';
  amount: number;
}

/** Not an error of the note: its invoice is not in Stripe yet (the next sweep retries). */
export class InvoiceNotSynced extends Error {
  override readonly name = 'InvoiceNotSynced';
}

export function creditNoteAlertKey(id: string): string {
  return `stripe_sync:credit_note:${id}`;
}

export async function syncCreditNote(deps: CreditNoteSyncDeps, creditNoteId: string): Promise<SyncedCreditNote> {
  const policy = retryPolicy(deps.config, { ...deps.retry, onRetry: (r) => deps.logger.warn({ creditNoteId, ...r }, 'stripe: retrying a request') });
  const cn = await deps.loadCreditNote(creditNoteId);
  if (!cn) throw new SyncRefused(`credit note ${creditNoteId} not found`);
  const unit = deps.microsPerMinorUnit(cn.currency);
  if (cn.amountMicros % unit !== 0n) throw new SyncRefused(`credit note ${cn.id}: ${cn.amountMicros} micros is not a whole minor unit`);
  const amount = Number(cn.amountMicros / unit);
  const state = await withPlatform(deps.pools.app, async (c) => {
    const inv = await c.query<{ stripe_invoice_id: string | null; sync_state: string }>('SELECT stripe_invoice_id, sync_state FROM stripe_invoices WHERE invoice_id = $1', [cn.invoiceId]);
    await c.query('INSERT INTO stripe_credit_notes (credit_note_id, tenant_id, invoice_id) VALUES ($1, $2, $3) ON CONFLICT (credit_note_id) DO NOTHING', [cn.id, cn.tenantId, cn.invoiceId]);
    const { rows } = await c.query<{ stripe_credit_note_id: string | null }>(
      `UPDATE stripe_credit_notes SET sync_state = CASE WHEN sync_state = 'synced' THEN sync_state ELSE 'syncing' END, attempts = attempts + 1, last_attempt_at = now()
       WHERE credit_note_id = $1 RETURNING stripe_credit_note_id`,
      [cn.id],
    );
    return { stripeInvoiceId: inv.rows[0]?.sync_state === 'synced' ? inv.rows[0].stripe_invoice_id : null, known: rows[0]!.stripe_credit_note_id };
  });
  if (!state.stripeInvoiceId) throw new InvoiceNotSynced(`credit note ${cn.id}: invoice ${cn.invoiceId} is not in Stripe yet`);
  const stripeInvoiceId = state.stripeInvoiceId;
  let note: Stripe.CreditNote | undefined;
  if (state.known) note = await callStripe(policy, () => deps.stripe.creditNotes.retrieve(state.known!));
  if (!note) {
    const existing = await callStripe(policy, () => deps.stripe.creditNotes.list({ invoice: stripeInvoiceId, limit: 100 }).autoPagingToArray({ limit: 10_000 }));
    note = existing.find((x) => x.metadata?.tollgate_credit_note_id === cn.id);
  }
  note ??= await callStripe(policy, () =>
    deps.stripe.creditNotes.create(
      {
        invoice: stripeInvoiceId,
        amount,
        ...(cn.type === 'refund' ? { refund_amount: amount } : { out_of_band_amount: amount }),
        memo: cn.reason.slice(0, 500),
        metadata: { tollgate_credit_note_id: cn.id, tollgate_credit_note_number: cn.number, tollgate_credit_note_type: cn.type },
      },
      { idempotencyKey: `tollgate:credit_note:${cn.id}:create` },
    ),
  );
  const created = note;
  await withPlatform(deps.pools.app, async (c) => {
    await c.query(`UPDATE stripe_credit_notes SET stripe_credit_note_id = $2, sync_state = 'synced', synced_at = COALESCE(synced_at, now()), last_error = NULL WHERE credit_note_id = $1`, [cn.id, created.id]);
    await c.query(`INSERT INTO stripe_mappings (tenant_id, object_type, local_id, stripe_id) VALUES ($1, 'credit_note', $2, $3) ON CONFLICT DO NOTHING`, [cn.tenantId, cn.id, created.id]);
    await resolveAlertByKey(c, { tenantId: cn.tenantId, dedupKey: creditNoteAlertKey(cn.id), details: { stripeCreditNoteId: created.id }, resolvedBy: 'stripe-sync' });
  });
  return { creditNoteId: cn.id, stripeCreditNoteId: created.id, type: cn.type, amount };
}

/** Credit notes whose invoice is synced and that are not yet in Stripe. */
export async function creditNotesToSync(deps: Pick<SyncDeps, 'pools'>, opts: { invoiceId?: string } = {}): Promise<string[]> {
  return withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `SELECT cn.id FROM credit_notes cn JOIN stripe_invoices si ON si.invoice_id = cn.invoice_id AND si.sync_state = 'synced'
       LEFT JOIN stripe_credit_notes s ON s.credit_note_id = cn.id
       WHERE (s.sync_state IS NULL OR s.sync_state <> 'synced') AND ($1::uuid IS NULL OR cn.invoice_id = $1)
       ORDER BY cn.created_at, cn.id LIMIT 1000`,
      [opts.invoiceId ?? null],
    );
    return rows.map((r) => r.id);
  });
}

export async function recordCreditNoteFailure(deps: Pick<SyncDeps, 'pools' | 'logger'>, cn: { id: string; tenantId: string } | null, creditNoteId: string, err: unknown, retryable: boolean): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  deps.logger.warn({ creditNoteId, err: message, retryable }, 'stripe credit note sync failed');
  if (!cn) return;
  await withPlatform(deps.pools.app, async (c) => {
    await c.query(`UPDATE stripe_credit_notes SET sync_state = 'failed', last_error = $2 WHERE credit_note_id = $1`, [creditNoteId, message.slice(0, 2000)]);
    await upsertAlert(c, {
      tenantId: cn.tenantId,
      kind: 'stripe_sync',
      metric: 'credit_note',
      severity: retryable ? 'warning' : 'critical',
      dedupKey: creditNoteAlertKey(creditNoteId),
      title: `credit note ${creditNoteId} could not be sent to Stripe${retryable ? ' (will be retried)' : ''}: ${message.slice(0, 200)}`,
      details: { creditNoteId, error: message, retryable },
    });
  });
}
