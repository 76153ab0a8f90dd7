/**
 * Stripe webhooks in (POST /webhooks/stripe on the API role; the edge hands over the raw body).
 *
 * - The signature is verified with the SDK (`stripe.webhooks.constructEvent`, 300 s tolerance)
 *   over the raw bytes: a bad signature or a stale timestamp is 400 and changes nothing.
 * - Each event id is applied at most once: its stripe_events row is written in the same
 *   transaction as its effects, so a duplicate delivery (or two concurrent ones) is a 200 no-op.
 * - Out of order: an invoice's state only moves forward. `paid` and `void` are final; any other
 *   event older (by Stripe's `created`) than the newest one applied to that invoice is recorded
 *   as `stale` and changes nothing.
 * - Types handled: invoice.paid, invoice.payment_failed, invoice.voided,
 *   invoice.marked_uncollectible. Every other type is acknowledged (200) and recorded as ignored,
 *   as Stripe asks (a non-2xx would make it retry for days).
 * The invoice is found by the `tollgate_invoice_id`/`tollgate_tenant_id` metadata the sync sets
 * (so an event that overtakes the sync's own bookkeeping still lands), else by its Stripe id.
 */
import Stripe from 'stripe';
import type pg from 'pg';
import { isUuid, withPlatform, type PgPools } from '../db/index.js';
import { auditFrom, recordAudit, type Actor } from '../audit/index.js';
import { selectInvoice, setInvoicePaymentStatus, type PaymentStatus } from '../invoices/index.js';
import type { Config } from '../config/index.js';
import type { Logger, Redis } from '../shared/index.js';
import { announceTenantStatus, reconcileDunning, type DunningChange } from './dunning.js';

export const WEBHOOK_TOLERANCE_SECONDS = 300;
export const HANDLED_EVENT_TYPES = ['invoice.paid', 'invoice.payment_failed', 'invoice.voided', 'invoice.marked_uncollectible'] as const;
type HandledType = (typeof HANDLED_EVENT_TYPES)[number];

export interface WebhookDeps {
  pools: Pick<PgPools, 'app'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  config: Pick<Config, 'STRIPE_WEBHOOK_SECRET' | 'REDIS_PREFIX'>;
  redis?: Pick<Redis, 'publish'> | null;
}

export type WebhookOutcome = 'applied' | 'stale' | 'ignored' | 'duplicate';

export interface WebhookResult {
  status: number;
  body: { received: true; eventId: string; outcome: WebhookOutcome } | { error: string };
}

const STATUS_BY_TYPE: Record<HandledType, 'paid' | 'open' | 'void' | 'uncollectible'> = {
  'invoice.paid': 'paid',
  'invoice.payment_failed': 'open',
  'invoice.voided': 'void',
  'invoice.marked_uncollectible': 'uncollectible',
};
const FINAL = new Set(['paid', 'void']);
/** What each event says about the Tollgate invoice's payment status (a Stripe void leaves it: voiding is Tollgate's decision). */
const PAYMENT_STATUS_BY_TYPE: Record<HandledType, Exclude<PaymentStatus, 'pending'> | null> = {
  'invoice.paid': 'paid',
  'invoice.payment_failed': 'failed',
  'invoice.voided': null,
  'invoice.marked_uncollectible': 'uncollectible',
};

/** Verifies and applies one delivery. Never throws for a bad request; database errors propagate (→ 500, Stripe retries). */
export async function receiveStripeWebhook(deps: WebhookDeps, req: { rawBody: Buffer; signature: string | undefined }): Promise<WebhookResult> {
  const secret = deps.config.STRIPE_WEBHOOK_SECRET;
  if (!secret) return { status: 503, body: { error: 'Stripe webhooks are not configured here (STRIPE_WEBHOOK_SECRET is not set)' } };
  if (!req.signature) return { status: 400, body: { error: 'missing Stripe-Signature header' } };
  let event: Stripe.Event;
  try {
    event = Stripe.webhooks.constructEvent(req.rawBody, req.signature, secret, WEBHOOK_TOLERANCE_SECONDS);
  } catch (err) {
    const message = err instanceof Stripe.errors.StripeSignatureVerificationError ? err.message : `unreadable event: ${(err as Error).message}`;
    deps.logger.warn({ reason: message }, 'stripe webhook refused');
    return { status: 400, body: { error: message } };
  }
  if (typeof event.id !== 'string' || typeof event.type !== 'string' || typeof event.created !== 'number') {
    return { status: 400, body: { error: 'not a Stripe event (id, type and created are required)' } };
  }

  const changed: { change: DunningChange | null } = { change: null };
  const outcome = await withPlatform(deps.pools.app, async (c) => {
    const handled = (HANDLED_EVENT_TYPES as readonly string[]).includes(event.type);
    const target = handled ? await findInvoice(c, event.data.object as Stripe.Invoice) : null;
    const { rowCount } = await c.query(
      `INSERT INTO stripe_events (id, type, stripe_created_at, tenant_id, stripe_object_id, outcome) VALUES ($1, $2, to_timestamp($3), $4, $5, 'ignored')
       ON CONFLICT (id) DO NOTHING`,
      [event.id, event.type, event.created, target?.tenantId ?? null, (event.data.object as { id?: string }).id ?? null],
    );
    if (rowCount === 0) return 'duplicate' as const;
    if (!handled || !target) return 'ignored' as const;
    const applied = await applyInvoiceEvent(c, event as Stripe.Event & { type: HandledType }, target);
    await c.query('UPDATE stripe_events SET outcome = $2 WHERE id = $1', [event.id, applied ? 'applied' : 'stale']);
    if (!applied) return 'stale' as const;
    changed.change = await reconcileDunning(c, { tenantId: target.tenantId, now: new Date(), actor: stripeActor(event) });
    return 'applied' as const;
  });
  await announceTenantStatus(deps, changed.change);
  deps.logger.info({ eventId: event.id, type: event.type, outcome }, 'stripe webhook');
  return { status: 200, body: { received: true, eventId: event.id, outcome } };
}

function stripeActor(event: Stripe.Event): Actor {
  return { type: 'system', id: 'stripe', requestId: event.id };
}

interface InvoiceTarget {
  invoiceId: string;
  tenantId: string;
}

/** The Tollgate invoice a Stripe invoice stands for, or null when it is not one of ours. */
async function findInvoice(c: pg.ClientBase, inv: Stripe.Invoice): Promise<InvoiceTarget | null> {
  const meta = inv.metadata ?? {};
  const invoiceId = meta.tollgate_invoice_id;
  const tenantId = meta.tollgate_tenant_id;
  if (isUuid(invoiceId) && isUuid(tenantId)) {
    if (await selectInvoice(c, { id: invoiceId, tenantId })) return { invoiceId, tenantId };
  }
  if (typeof inv.id !== 'string') return null;
  const { rows } = await c.query<{ invoice_id: string; tenant_id: string }>('SELECT invoice_id, tenant_id FROM stripe_invoices WHERE stripe_invoice_id = $1', [inv.id]);
  return rows[0] ? { invoiceId: rows[0].invoice_id, tenantId: rows[0].tenant_id } : null;
}

/** Moves the invoice's Stripe state forward by one event; false when the event is older than what is known (stale). */
async function applyInvoiceEvent(c: pg.ClientBase, event: Stripe.Event & { type: HandledType }, t: InvoiceTarget): Promise<boolean> {
  const inv = event.data.object as Stripe.Invoice;
  await c.query(`INSERT INTO stripe_invoices (invoice_id, tenant_id) VALUES ($1, $2) ON CONFLICT (invoice_id) DO NOTHING`, [t.invoiceId, t.tenantId]);
  const { rows } = await c.query<{ stripe_invoice_id: string | null; stripe_status: string | null; stripe_status_at: Date | null }>(
    'SELECT stripe_invoice_id, stripe_status, stripe_status_at FROM stripe_invoices WHERE invoice_id = $1 FOR UPDATE',
    [t.invoiceId],
  );
  const cur = rows[0]!;
  // Another Stripe invoice claiming the same Tollgate invoice (not one the sync kept): not applied.
  if (cur.stripe_invoice_id && cur.stripe_invoice_id !== inv.id) return false;
  const next = STATUS_BY_TYPE[event.type];
  const at = new Date(event.created * 1000);
  if (cur.stripe_status && FINAL.has(cur.stripe_status)) return false;
  if (!FINAL.has(next) && cur.stripe_status_at && at.getTime() < cur.stripe_status_at.getTime()) return false;
  const paidAt = inv.status_transitions?.paid_at ?? event.created;
  await c.query(
    `UPDATE stripe_invoices SET
       stripe_invoice_id = COALESCE(stripe_invoice_id, $2),
       stripe_customer_id = COALESCE(stripe_customer_id, $3),
       hosted_invoice_url = COALESCE($4, hosted_invoice_url),
       stripe_status = $5,
       stripe_status_at = GREATEST(stripe_status_at, $6),
       payment_failed_at = CASE WHEN $5 IN ('paid', 'void') THEN NULL
                                WHEN $7 THEN COALESCE(payment_failed_at, $6) ELSE payment_failed_at END,
       paid_at = CASE WHEN $5 = 'paid' THEN to_timestamp($8) ELSE paid_at END
     WHERE invoice_id = $1`,
    [t.invoiceId, inv.id, typeof inv.customer === 'string' ? inv.customer : (inv.customer?.id ?? null), inv.hosted_invoice_url ?? null, next, at, event.type === 'invoice.payment_failed' || next === 'uncollectible', paidAt],
  );
  const paymentStatus = PAYMENT_STATUS_BY_TYPE[event.type];
  const payment = paymentStatus ? await setInvoicePaymentStatus(c, { invoiceId: t.invoiceId, tenantId: t.tenantId, paymentStatus, paidAt: new Date(paidAt * 1000) }) : null;
  await recordAudit(
    c,
    auditFrom(stripeActor(event), {
      tenantId: t.tenantId,
      action: `invoice.${event.type.slice('invoice.'.length)}`,
      targetType: 'invoice',
      targetId: t.invoiceId,
      before: { stripeStatus: cur.stripe_status, ...(payment?.changed ? { paymentStatus: payment.before } : {}) },
      after: { stripeStatus: next, ...(payment?.changed ? { paymentStatus } : {}), stripeInvoiceId: inv.id, eventId: event.id, amountDue: inv.amount_due, amountPaid: inv.amount_paid, attemptCount: inv.attempt_count },
    }),
  );
  return true;
}
