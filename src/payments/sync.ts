/**
 * Invoice sync to Stripe: Customer per tenant (lazily), a draft Invoice
 * (`pending_invoice_items_behavior: 'exclude'`), one InvoiceItem per Tollgate line, finalize.
 *
 * Safe under retries, crashes and Stripe's 24 h idempotency-key expiry, by two rules:
 * 1. every write carries a deterministic idempotency key (`tollgate:tenant:<id>:customer`,
 *    `tollgate:invoice:<id>:create`, `tollgate:invoice:<id>:line:<line id>`, `…:finalize`), so
 *    a resend within 24 h — after a timeout or an answer lost on the way back — replays Stripe's
 *    first result instead of writing twice;
 * 2. before creating, the object is looked up by the `tollgate_*` metadata it would carry
 *    (customers by search, invoices by listing the customer's invoices, items by listing the
 *    invoice's items), so a resume after the keys expired finds what a dead process made.
 * Each step is recorded in stripe_invoices (sync_step, items_synced), ending in `synced` with
 * the hosted invoice URL, or `failed` with the error and an open alert.
 */
import Stripe from 'stripe';
import type pg from 'pg';
import { withPlatform, type PgPools } from '../db/index.js';
import { upsertAlert, resolveAlertByKey } from '../alerts/index.js';
import type { Logger } from '../shared/index.js';
import { callStripe, retryPolicy, type RetryPolicy, type StripeConfig } from './client.js';
import { paymentTermsOf } from './terms.js';

/** Stripe's limit of invoice items on one invoice. */
export const STRIPE_MAX_INVOICE_ITEMS = 250;

/** What the sync needs of a Tollgate invoice (read through the invoices module). */
export interface SyncableInvoice {
  id: string;
  tenantId: string;
  tenantName: string;
  number: string | null;
  status: string;
  currency: string;
  periodStart: Date;
  periodEnd: Date;
  taxMicros: bigint;
  creditAppliedMicros: bigint;
  amountDueMicros: bigint;
  lines: Array<{ id: string; description: string; roundedMicros: bigint }>;
}

export interface SyncDeps {
  pools: Pick<PgPools, 'app'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  stripe: Stripe;
  config: StripeConfig;
  /** Loads an invoice with its lines (null: no such invoice). */
  loadInvoice(invoiceId: string): Promise<SyncableInvoice | null>;
  /** Micros in one minor unit of the currency (USD 10 000). */
  microsPerMinorUnit(currency: string): bigint;
  /** Tests shorten the backoff. */
  retry?: Partial<RetryPolicy>;
}

export interface SyncedInvoice {
  invoiceId: string;
  stripeInvoiceId: string;
  items: number;
}

export interface FailedSync {
  invoiceId: string;
  /** Set when the failure is one of the invoice's credit notes. */
  creditNoteId?: string;
  error: string;
  /** false: retrying the same request cannot help (a 4xx, a Tollgate amount Stripe cannot take). */
  retryable: boolean;
}

/** A failure the sync decided on itself (not an API error): never retried as is. */
export class SyncRefused extends Error {
  override readonly name = 'SyncRefused';
}

export interface PlannedItem {
  /** Metadata `tollgate_item`: how a resumed sync recognises the item. */
  tag: string;
  idempotencyKey: string;
  amount: number;
  description: string;
  metadata: Record<string, string>;
}

function minor(micros: bigint, unit: bigint, what: string): number {
  if (micros % unit !== 0n) throw new SyncRefused(`${what}: ${micros} micros is not a whole minor unit of the currency`);
  const v = micros / unit;
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw new SyncRefused(`${what}: amount out of range`);
  return Number(v);
}

/**
 * The invoice items for a Tollgate invoice: one per line (integer minor units), then tax and the
 * credit balance applied (negative). Beyond Stripe's 250 items the lines past the limit are summed
 * into one item naming the first and last line ids. Deterministic: a resumed sync plans the same.
 */
export function planItems(inv: SyncableInvoice, unit: bigint): PlannedItem[] {
  const base = `tollgate:invoice:${inv.id}`;
  const meta = (tag: string, extra: Record<string, string> = {}): Record<string, string> => ({ tollgate_invoice_id: inv.id, tollgate_item: tag, ...extra });
  const extras: PlannedItem[] = [];
  if (inv.taxMicros !== 0n) extras.push({ tag: 'tax', idempotencyKey: `${base}:tax`, amount: minor(inv.taxMicros, unit, 'tax'), description: 'Tax', metadata: meta('tax') });
  if (inv.creditAppliedMicros !== 0n) {
    extras.push({ tag: 'credit', idempotencyKey: `${base}:credit`, amount: -minor(inv.creditAppliedMicros, unit, 'credit applied'), description: 'Credit balance applied', metadata: meta('credit') });
  }
  const capacity = STRIPE_MAX_INVOICE_ITEMS - extras.length;
  const single = inv.lines.length <= capacity ? inv.lines : inv.lines.slice(0, capacity - 1);
  const items: PlannedItem[] = single.map((l) => ({
    tag: `line:${l.id}`,
    idempotencyKey: `${base}:line:${l.id}`,
    amount: minor(l.roundedMicros, unit, `line ${l.id}`),
    description: (l.description || `line ${l.id}`).slice(0, 500),
    metadata: meta(`line:${l.id}`, { tollgate_line_id: l.id }),
  }));
  const rest = inv.lines.slice(single.length);
  if (rest.length > 0) {
    const first = rest[0]!.id;
    const last = rest.at(-1)!.id;
    const sum = rest.reduce((s, l) => s + l.roundedMicros, 0n);
    items.push({
      tag: `lines:${first}-${last}`,
      idempotencyKey: `${base}:lines:${first}-${last}`,
      amount: minor(sum, unit, `lines ${first}-${last}`),
      description: `${rest.length} further lines (Tollgate lines ${first} to ${last}; Stripe allows ${STRIPE_MAX_INVOICE_ITEMS} items)`,
      metadata: meta(`lines:${first}-${last}`, { tollgate_line_ids: `${first}-${last}`, tollgate_line_count: String(rest.length) }),
    });
  }
  return [...items, ...extras];
}

async function setStep(c: pg.ClientBase | Pick<PgPools, 'app'>, invoiceId: string, fields: Record<string, unknown>): Promise<void> {
  const keys = Object.keys(fields);
  const sets = keys.map((k, i) => `${k} = $${i + 2}`).join(', ');
  const sql = `UPDATE stripe_invoices SET ${sets} WHERE invoice_id = $1`;
  const values = [invoiceId, ...keys.map((k) => fields[k])];
  if ('query' in c) await c.query(sql, values);
  else await withPlatform(c.app, (cl) => cl.query(sql, values));
}

/** The tenant's Stripe customer: the mapping, else one found by metadata, else a new one (idempotent). */
async function ensureCustomer(deps: SyncDeps, policy: RetryPolicy, inv: SyncableInvoice): Promise<Stripe.Customer> {
  const mapped = await withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query<{ stripe_id: string }>(`SELECT stripe_id FROM stripe_mappings WHERE tenant_id = $1 AND object_type = 'customer' AND local_id = $2`, [inv.tenantId, inv.tenantId]);
    return rows[0]?.stripe_id ?? null;
  });
  if (mapped) {
    const c = await callStripe(policy, () => deps.stripe.customers.retrieve(mapped));
    if (!('deleted' in c && c.deleted)) return c as Stripe.Customer;
  }
  // Search is eventually consistent (about a minute): it finds what an earlier run made after the
  // idempotency key could have expired; within the key's 24 h the create below replays instead.
  const found = await callStripe(policy, () => deps.stripe.customers.search({ query: `metadata['tollgate_tenant_id']:'${inv.tenantId}'`, limit: 10 }));
  const customer =
    found.data.sort((a, b) => a.created - b.created)[0] ??
    (await callStripe(policy, () =>
      deps.stripe.customers.create({ name: inv.tenantName, metadata: { tollgate_tenant_id: inv.tenantId } }, { idempotencyKey: `tollgate:tenant:${inv.tenantId}:customer` }),
    ));
  await withPlatform(deps.pools.app, (c) =>
    c.query(`INSERT INTO stripe_mappings (tenant_id, object_type, local_id, stripe_id) VALUES ($1, 'customer', $2, $3) ON CONFLICT DO NOTHING`, [inv.tenantId, inv.tenantId, customer.id]),
  );
  return customer;
}

/** The Stripe invoice of a Tollgate invoice: recorded, else found among the customer's invoices by metadata, else created. */
async function ensureStripeInvoice(deps: SyncDeps, policy: RetryPolicy, inv: SyncableInvoice, customer: Stripe.Customer, known: string | null): Promise<Stripe.Invoice> {
  if (known) return callStripe(policy, () => deps.stripe.invoices.retrieve(known));
  const existing = await callStripe(policy, () => deps.stripe.invoices.list({ customer: customer.id, limit: 100 }).autoPagingToArray({ limit: 10_000 }));
  const mine = existing.find((si) => si.metadata?.tollgate_invoice_id === inv.id);
  if (mine) return mine;
  const terms = await withPlatform(deps.pools.app, (c) => paymentTermsOf(c, inv.tenantId));
  const charge = Boolean(customer.invoice_settings?.default_payment_method);
  return callStripe(policy, () =>
    deps.stripe.invoices.create(
      {
        customer: customer.id,
        currency: inv.currency.toLowerCase(),
        auto_advance: false,
        pending_invoice_items_behavior: 'exclude',
        ...(charge ? { collection_method: 'charge_automatically' as const } : { collection_method: 'send_invoice' as const, days_until_due: terms.daysUntilDue }),
        description: `Tollgate invoice ${inv.number ?? inv.id} (${inv.periodStart.toISOString().slice(0, 10)} to ${inv.periodEnd.toISOString().slice(0, 10)})`,
        metadata: { tollgate_invoice_id: inv.id, tollgate_tenant_id: inv.tenantId, ...(inv.number ? { tollgate_invoice_number: inv.number } : {}) },
      },
      { idempotencyKey: `tollgate:invoice:${inv.id}:create` },
    ),
  );
}

/** Syncs one invoice all the way (idempotent: a synced invoice changes nothing in Stripe). */
export async function syncInvoice(deps: SyncDeps, invoiceId: string): Promise<SyncedInvoice> {
  const policy = retryPolicy(deps.config, {
    ...deps.retry,
    onRetry: (r) => deps.logger.warn({ invoiceId, ...r }, 'stripe: retrying a request'),
  });
  const inv = await deps.loadInvoice(invoiceId);
  if (!inv) throw new SyncRefused(`invoice ${invoiceId} not found`);
  if (inv.status !== 'finalized') throw new SyncRefused(`invoice ${invoiceId} is ${inv.status}; only finalized invoices go to Stripe`);
  const row = await withPlatform(deps.pools.app, async (c) => {
    await c.query('INSERT INTO stripe_invoices (invoice_id, tenant_id) VALUES ($1, $2) ON CONFLICT (invoice_id) DO NOTHING', [inv.id, inv.tenantId]);
    const { rows } = await c.query<{ stripe_invoice_id: string | null; sync_state: string; items_synced: number }>(
      `UPDATE stripe_invoices SET sync_state = CASE WHEN sync_state = 'synced' THEN sync_state ELSE 'syncing' END,
         attempts = attempts + 1, last_attempt_at = now() WHERE invoice_id = $1 RETURNING stripe_invoice_id, sync_state, items_synced`,
      [inv.id],
    );
    return rows[0]!;
  });
  const unit = deps.microsPerMinorUnit(inv.currency);
  const planned = planItems(inv, unit);

  await setStep(deps.pools, inv.id, { sync_step: 'customer' });
  const customer = await ensureCustomer(deps, policy, inv);

  await setStep(deps.pools, inv.id, { sync_step: 'invoice', stripe_customer_id: customer.id });
  let si = await ensureStripeInvoice(deps, policy, inv, customer, row.stripe_invoice_id);
  await withPlatform(deps.pools.app, async (c) => {
    await c.query('UPDATE stripe_invoices SET stripe_invoice_id = $2, stripe_status = COALESCE(stripe_status, $3) WHERE invoice_id = $1', [inv.id, si.id, si.status]);
    await c.query(`INSERT INTO stripe_mappings (tenant_id, object_type, local_id, stripe_id) VALUES ($1, 'invoice', $2, $3) ON CONFLICT DO NOTHING`, [inv.tenantId, inv.id, si.id]);
  });

  if (si.status === 'draft') {
    await setStep(deps.pools, inv.id, { sync_step: 'items' });
    const present = new Set<string>();
    const items = await callStripe(policy, () => deps.stripe.invoiceItems.list({ invoice: si.id!, limit: 100 }).autoPagingToArray({ limit: 10_000 }));
    for (const it of items) if (it.metadata?.tollgate_item) present.add(it.metadata.tollgate_item);
    let done = present.size;
    for (const item of planned) {
      if (present.has(item.tag)) continue;
      await callStripe(policy, () =>
        deps.stripe.invoiceItems.create(
          { customer: customer.id, invoice: si.id, amount: item.amount, currency: inv.currency.toLowerCase(), description: item.description, metadata: item.metadata },
          { idempotencyKey: item.idempotencyKey },
        ),
      );
      done += 1;
      await setStep(deps.pools, inv.id, { items_synced: done });
    }
    // What Stripe will bill must be what Tollgate says is due, before it becomes final.
    si = await callStripe(policy, () => deps.stripe.invoices.retrieve(si.id!));
    const expected = minor(inv.amountDueMicros, unit, 'amount due');
    if (si.total !== expected) throw new SyncRefused(`Stripe invoice ${si.id} totals ${si.total}, Tollgate's amount due is ${expected} (minor units); not finalized`);
    await setStep(deps.pools, inv.id, { sync_step: 'finalize' });
    si = await callStripe(policy, () => deps.stripe.invoices.finalizeInvoice(si.id!, { auto_advance: true }, { idempotencyKey: `tollgate:invoice:${inv.id}:finalize` }));
  }
  await withPlatform(deps.pools.app, async (c) => {
    await c.query(
      `UPDATE stripe_invoices SET sync_state = 'synced', sync_step = 'done', synced_at = COALESCE(synced_at, now()), last_error = NULL, items_synced = $2,
         hosted_invoice_url = COALESCE($3, hosted_invoice_url),
         stripe_status = CASE WHEN stripe_status IS NULL OR stripe_status = 'draft' THEN $4 ELSE stripe_status END
       WHERE invoice_id = $1`,
      [inv.id, planned.length, si.hosted_invoice_url ?? null, si.status],
    );
    await resolveAlertByKey(c, { tenantId: inv.tenantId, dedupKey: syncAlertKey(inv.id), details: { stripeInvoiceId: si.id }, resolvedBy: 'stripe-sync' });
  });
  return { invoiceId: inv.id, stripeInvoiceId: si.id!, items: planned.length };
}

export function syncAlertKey(invoiceId: string): string {
  return `stripe_sync:${invoiceId}`;
}

/** Whether a failure may pass by itself (network, 5xx, 429) or needs a person. */
export function retryableFailure(err: unknown): boolean {
  if (err instanceof SyncRefused) return false;
  if (err instanceof Stripe.errors.StripeError) return err instanceof Stripe.errors.StripeConnectionError || err instanceof Stripe.errors.StripeRateLimitError || (err.statusCode ?? 0) >= 500 || err.statusCode === 409;
  return true; // a database or programming error: retry later, and the alert says so
}

/** Records a failed sync: visible state, last error, and an open alert (never a silent gap). */
export async function recordSyncFailure(deps: Pick<SyncDeps, 'pools' | 'logger'>, invoiceId: string, tenantId: string | null, err: unknown): Promise<FailedSync> {
  // An invoice that does not exist has no tenant to hold the state or the alert; the caller reports it.
  const message = err instanceof Error ? err.message : String(err);
  const retryable = retryableFailure(err);
  deps.logger.warn({ invoiceId, err: message, retryable }, 'stripe sync failed');
  await withPlatform(deps.pools.app, async (c) => {
    if (!tenantId) return;
    await c.query('INSERT INTO stripe_invoices (invoice_id, tenant_id) VALUES ($1, $2) ON CONFLICT (invoice_id) DO NOTHING', [invoiceId, tenantId]);
    await c.query(`UPDATE stripe_invoices SET sync_state = 'failed', last_error = $2 WHERE invoice_id = $1`, [invoiceId, message.slice(0, 2000)]);
    // On the tenant's feed (finance sees it; operators see it in `tollgate status`), resolved by the next successful sync.
    await upsertAlert(c, {
      tenantId,
      kind: 'stripe_sync',
      metric: 'invoice',
      severity: retryable ? 'warning' : 'critical',
      dedupKey: syncAlertKey(invoiceId),
      title: `invoice ${invoiceId} could not be sent to Stripe for collection${retryable ? ' (will be retried)' : ''}: ${message.slice(0, 200)}`,
      details: { invoiceId, tenantId, error: message, retryable },
    });
  });
  return { invoiceId, error: message, retryable };
}

/** Finalized invoices not yet synced (never tried, interrupted, or failed), oldest first. */
export async function invoicesToSync(deps: Pick<SyncDeps, 'pools'>, opts: { limit?: number } = {}): Promise<string[]> {
  return withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `SELECT i.id FROM invoices i LEFT JOIN stripe_invoices s ON s.invoice_id = i.id
       WHERE i.status = 'finalized' AND (s.sync_state IS NULL OR s.sync_state <> 'synced')
       ORDER BY i.finalized_at NULLS LAST, i.id LIMIT $1`,
      [opts.limit ?? 1000],
    );
    return rows.map((r) => r.id);
  });
}
