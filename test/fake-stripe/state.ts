/**
 * The fake's Stripe: customers, invoices, invoice items, credit notes, refunds and events, with
 * the rules Stripe documents for them (items only on draft invoices, at most 250 per invoice,
 * draft → open → paid | void | uncollectible, credit notes bounded by what remains, search by
 * metadata with an indexing lag). Time comes from the fake's clock so tests can move it.
 */
import { randomBytes } from 'node:crypto';
import { invalid, missingResource } from './errors.js';
import { fromFixture } from './fixtures.js';

export type Obj = Record<string, unknown> & { id: string; object: string; created: number; metadata?: Record<string, string> };

export interface Clock {
  /** Unix seconds. */
  now(): number;
}

export const MAX_INVOICE_ITEMS = 250;

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x').slice(0, 16)}`;
}

export interface EventSink {
  (type: string, object: Obj, previous?: Record<string, unknown>): void;
}

interface Internal {
  seq: number;
}

export class FakeStripeState {
  readonly customers = new Map<string, Obj>();
  readonly invoices = new Map<string, Obj>();
  readonly items = new Map<string, Obj>();
  readonly creditNotes = new Map<string, Obj>();
  readonly refunds = new Map<string, Obj>();
  /** Insertion order, for newest-first lists with stable ties. */
  private readonly order = new Map<string, Internal>();
  private seq = 0;
  private invoiceCounter = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly emit: EventSink,
    readonly baseUrl: () => string,
  ) {}

  private track(o: Obj): Obj {
    this.order.set(o.id, { seq: ++this.seq });
    return o;
  }

  seqOf(id: string): number {
    return this.order.get(id)?.seq ?? 0;
  }

  // ---- customers --------------------------------------------------------------------------
  createCustomer(p: Record<string, unknown>): Obj {
    const id = newId('cus');
    const c = fromFixture<Obj>('customer', {
      id,
      created: this.clock.now(),
      name: p.name ?? null,
      email: p.email ?? null,
      description: p.description ?? null,
      metadata: (p.metadata as Record<string, string>) ?? {},
      discount: null,
      balance: 0,
      invoice_prefix: randomBytes(4).toString('hex').toUpperCase(),
      next_invoice_sequence: 1,
      preferred_locales: [],
      invoice_settings: {
        custom_fields: null,
        default_payment_method: ((p.invoice_settings as Record<string, unknown> | undefined)?.default_payment_method as string | undefined) ?? null,
        footer: null,
        rendering_options: null,
      },
    });
    this.customers.set(id, this.track(c));
    this.emit('customer.created', c);
    return c;
  }

  customer(id: string, param = 'id'): Obj {
    const c = this.customers.get(id);
    if (!c || c.deleted) throw missingResource('customer', id, param);
    return c;
  }

  updateCustomer(id: string, p: Record<string, unknown>): Obj {
    const c = this.customer(id);
    if (p.metadata) c.metadata = mergeMetadata(c.metadata ?? {}, p.metadata as Record<string, string>);
    for (const k of ['name', 'email', 'description'] as const) if (p[k] !== undefined) c[k] = p[k];
    if (p.invoice_settings) {
      const is = c.invoice_settings as Record<string, unknown>;
      const given = p.invoice_settings as Record<string, unknown>;
      if (given.default_payment_method !== undefined) is.default_payment_method = given.default_payment_method || null;
    }
    this.emit('customer.updated', c);
    return c;
  }

  // ---- invoices -----------------------------------------------------------------------------
  createInvoice(p: Record<string, unknown>): Obj {
    const customer = this.customer(String(p.customer), 'customer');
    const collection = (p.collection_method as string | undefined) ?? 'charge_automatically';
    if (collection === 'send_invoice' && p.days_until_due === undefined && p.due_date === undefined) {
      throw invalid('Missing required param: days_until_due.', 'parameter_missing', 'days_until_due');
    }
    if (collection === 'charge_automatically' && (p.days_until_due !== undefined || p.due_date !== undefined)) {
      throw invalid('You cannot set days_until_due or due_date when collection_method is charge_automatically.', undefined, 'days_until_due');
    }
    const now = this.clock.now();
    const id = newId('in');
    const inv = fromFixture<Obj>('invoice', {
      id,
      created: now,
      customer: customer.id,
      currency: String(p.currency ?? customer.currency ?? 'usd').toLowerCase(),
      collection_method: collection,
      auto_advance: p.auto_advance ?? false,
      description: p.description ?? null,
      metadata: (p.metadata as Record<string, string>) ?? {},
      billing_reason: 'manual',
      status: 'draft',
      number: null,
      hosted_invoice_url: null,
      invoice_pdf: null,
      due_date: p.due_date ?? null,
      days_until_due: p.days_until_due ?? null,
      attempt_count: 0,
      attempted: false,
      amount_paid: 0,
      amount_shipping: 0,
      amount_overpaid: 0,
      effective_at: null,
      last_finalization_error: null,
      next_payment_attempt: null,
      parent: null,
      from_invoice: null,
      discounts: [],
      shipping_cost: null,
      webhooks_delivered_at: null,
      starting_balance: 0,
      ending_balance: null,
      customer_name: customer.name,
      customer_email: customer.email,
      default_payment_method: null,
      status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
      period_start: now,
      period_end: now,
      lines: { object: 'list', data: [], has_more: false, url: `/v1/invoices/${id}/lines` },
    });
    this.invoices.set(id, this.track(inv));
    if ((p.pending_invoice_items_behavior ?? 'exclude') === 'include') {
      for (const it of this.items.values()) if (it.customer === customer.id && it.invoice === null && !it.deleted) this.attachItem(inv, it);
    }
    this.recompute(inv);
    this.emit('invoice.created', inv);
    return inv;
  }

  invoice(id: string, param = 'invoice'): Obj {
    const inv = this.invoices.get(id);
    if (!inv || inv.deleted) throw missingResource('invoice', id, param);
    return inv;
  }

  updateInvoice(id: string, p: Record<string, unknown>): Obj {
    const inv = this.invoice(id, 'id');
    if (p.metadata) inv.metadata = mergeMetadata(inv.metadata ?? {}, p.metadata as Record<string, string>);
    if (inv.status !== 'draft' && Object.keys(p).some((k) => !['metadata', 'expand', 'auto_advance'].includes(k))) {
      throw invalid(`You can only update metadata and auto_advance on a ${String(inv.status)} invoice.`, 'invoice_not_editable');
    }
    for (const k of ['description', 'auto_advance', 'days_until_due', 'due_date', 'collection_method'] as const) if (p[k] !== undefined) inv[k] = p[k];
    this.emit('invoice.updated', inv);
    return inv;
  }

  deleteInvoice(id: string): Obj {
    const inv = this.invoice(id, 'id');
    if (inv.status !== 'draft') throw invalid('You can only delete draft invoices.', 'invoice_not_editable');
    inv.deleted = true;
    for (const it of this.items.values()) if (it.invoice === id) it.deleted = true;
    this.emit('invoice.deleted', inv);
    return { id, object: 'invoice', deleted: true, created: inv.created };
  }

  itemsOf(invoiceId: string): Obj[] {
    return [...this.items.values()].filter((it) => it.invoice === invoiceId && !it.deleted).sort((a, b) => this.seqOf(a.id) - this.seqOf(b.id));
  }

  finalizeInvoice(id: string, p: Record<string, unknown>): Obj {
    const inv = this.invoice(id, 'id');
    if (inv.status !== 'draft') throw invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice.", 'invoice_not_editable');
    const now = this.clock.now();
    const customer = this.customer(String(inv.customer));
    const n = (this.invoiceCounter.get(customer.id) ?? 0) + 1;
    this.invoiceCounter.set(customer.id, n);
    inv.number = `${String(customer.invoice_prefix)}-${String(n).padStart(4, '0')}`;
    customer.next_invoice_sequence = n + 1;
    inv.status = 'open';
    inv.effective_at = now;
    if (p.auto_advance !== undefined) inv.auto_advance = p.auto_advance;
    (inv.status_transitions as Record<string, unknown>).finalized_at = now;
    inv.hosted_invoice_url = `${this.baseUrl()}/i/${id}`;
    inv.invoice_pdf = `${this.baseUrl()}/i/${id}/pdf`;
    if (inv.collection_method === 'send_invoice' && inv.due_date === null) inv.due_date = now + Number(inv.days_until_due ?? 0) * 86_400;
    if (inv.collection_method === 'charge_automatically') inv.next_payment_attempt = now + 3600;
    this.recompute(inv);
    this.emit('invoice.finalized', inv);
    if (Number(inv.amount_due) === 0) this.markPaid(inv, false);
    return inv;
  }

  /** POST /v1/invoices/:id/pay — pays with the customer's default payment method (or out of band). */
  payInvoice(id: string, p: Record<string, unknown>): Obj {
    const inv = this.invoice(id, 'id');
    if (inv.status === 'paid') throw invalid('Invoice is already paid', 'invoice_already_paid' as string);
    if (inv.status !== 'open' && inv.status !== 'uncollectible') throw invalid(`You cannot pay an invoice with status ${String(inv.status)}.`, 'invoice_not_payable' as string);
    if (p.paid_out_of_band === true) return this.markPaid(inv, true);
    const customer = this.customer(String(inv.customer));
    const pm = (customer.invoice_settings as Record<string, unknown>).default_payment_method;
    if (!pm) throw invalid('This customer has no attached payment source or default payment method.', 'invoice_no_customer_payment_method' as string);
    return this.attemptPayment(id, pm === 'pm_card_chargeDeclined' ? 'fail' : 'succeed');
  }

  /** A payment attempt's outcome (the test decides it): paid, or payment_failed with an attempt count. */
  attemptPayment(id: string, outcome: 'succeed' | 'fail'): Obj {
    const inv = this.invoice(id, 'id');
    if (inv.status !== 'open' && inv.status !== 'uncollectible') throw invalid(`You cannot pay an invoice with status ${String(inv.status)}.`);
    inv.attempted = true;
    inv.attempt_count = Number(inv.attempt_count) + 1;
    if (outcome === 'succeed') return this.markPaid(inv, false);
    inv.next_payment_attempt = this.clock.now() + 3 * 86_400;
    this.emit('invoice.payment_failed', inv);
    return inv;
  }

  private markPaid(inv: Obj, outOfBand: boolean): Obj {
    const now = this.clock.now();
    inv.status = 'paid';
    inv.paid_out_of_band = outOfBand;
    inv.amount_paid = inv.amount_due;
    inv.amount_remaining = 0;
    inv.next_payment_attempt = null;
    (inv.status_transitions as Record<string, unknown>).paid_at = now;
    this.emit('invoice.paid', inv);
    this.emit('invoice.payment_succeeded', inv);
    return inv;
  }

  voidInvoice(id: string): Obj {
    const inv = this.invoice(id, 'id');
    if (inv.status !== 'open' && inv.status !== 'uncollectible') throw invalid(`You can only void an open or uncollectible invoice; this one is ${String(inv.status)}.`, 'invoice_not_editable');
    inv.status = 'void';
    inv.next_payment_attempt = null;
    (inv.status_transitions as Record<string, unknown>).voided_at = this.clock.now();
    this.emit('invoice.voided', inv);
    return inv;
  }

  markUncollectible(id: string): Obj {
    const inv = this.invoice(id, 'id');
    if (inv.status !== 'open') throw invalid(`You can only mark an open invoice uncollectible; this one is ${String(inv.status)}.`, 'invoice_not_editable');
    inv.status = 'uncollectible';
    inv.next_payment_attempt = null;
    (inv.status_transitions as Record<string, unknown>).marked_uncollectible_at = this.clock.now();
    this.emit('invoice.marked_uncollectible', inv);
    return inv;
  }

  // ---- invoice items ------------------------------------------------------------------------
  createItem(p: Record<string, unknown>): Obj {
    const customer = this.customer(String(p.customer), 'customer');
    let inv: Obj | undefined;
    if (p.invoice !== undefined) {
      inv = this.invoice(String(p.invoice), 'invoice');
      if (inv.customer !== customer.id) throw invalid(`The invoice ${inv.id} belongs to another customer.`, undefined, 'invoice');
      if (inv.status !== 'draft') throw invalid(`You can only add invoice items to draft invoices; invoice ${inv.id} is ${String(inv.status)}.`, 'invoice_not_editable', 'invoice');
      if (this.itemsOf(inv.id).length >= MAX_INVOICE_ITEMS) throw invalid(`An invoice can have at most ${MAX_INVOICE_ITEMS} invoice items.`, 'invoice_too_many_items' as string, 'invoice');
    }
    if (p.amount === undefined && p.unit_amount_decimal === undefined) throw invalid('Missing required param: amount.', 'parameter_missing', 'amount');
    const currency = String(p.currency ?? inv?.currency ?? '').toLowerCase();
    if (!currency) throw invalid('Missing required param: currency.', 'parameter_missing', 'currency');
    if (inv && currency !== inv.currency) throw invalid(`The currency of the invoice item (${currency}) must match the invoice's (${String(inv.currency)}).`, undefined, 'currency');
    const now = this.clock.now();
    const period = (p.period as { start: number; end: number } | undefined) ?? { start: now, end: now };
    const it = fromFixture<Obj>('invoiceitem', {
      id: newId('ii'),
      created: now,
      date: now,
      amount: p.amount,
      currency,
      customer: customer.id,
      description: p.description ?? null,
      invoice: inv?.id ?? null,
      metadata: (p.metadata as Record<string, string>) ?? {},
      period,
      quantity: 1,
      quantity_decimal: '1',
      net_amount: p.amount,
      parent: null,
      proration: false,
      discountable: p.discountable ?? true,
    });
    this.items.set(it.id, this.track(it));
    if (inv) this.attachItem(inv, it);
    this.emit('invoiceitem.created', it);
    return it;
  }

  item(id: string): Obj {
    const it = this.items.get(id);
    if (!it || it.deleted) throw missingResource('invoiceitem', id);
    return it;
  }

  deleteItem(id: string): Obj {
    const it = this.item(id);
    if (it.invoice) {
      const inv = this.invoice(String(it.invoice));
      if (inv.status !== 'draft') throw invalid('You can only delete invoice items of draft invoices.', 'invoice_not_editable');
    }
    it.deleted = true;
    if (it.invoice) this.recompute(this.invoice(String(it.invoice)));
    return { id, object: 'invoiceitem', deleted: true, created: it.created };
  }

  private attachItem(inv: Obj, it: Obj): void {
    it.invoice = inv.id;
    this.recompute(inv);
  }

  /** Totals and the embedded lines list from the invoice's items and credit notes. */
  recompute(inv: Obj): void {
    const items = this.itemsOf(inv.id);
    const subtotal = items.reduce((s, it) => s + Number(it.amount), 0);
    inv.subtotal = subtotal;
    inv.subtotal_excluding_tax = subtotal;
    inv.total = subtotal;
    inv.total_excluding_tax = subtotal;
    const notes = [...this.creditNotes.values()].filter((cn) => cn.invoice === inv.id && cn.status === 'issued');
    const pre = notes.filter((cn) => cn.type === 'pre_payment').reduce((s, cn) => s + Number(cn.amount), 0);
    const post = notes.filter((cn) => cn.type === 'post_payment').reduce((s, cn) => s + Number(cn.amount), 0);
    inv.pre_payment_credit_notes_amount = pre;
    inv.post_payment_credit_notes_amount = post;
    if (inv.status !== 'paid') {
      inv.amount_due = Math.max(0, subtotal - pre);
      inv.amount_remaining = Math.max(0, Number(inv.amount_due) - Number(inv.amount_paid));
    }
    const lines = items.map((it) => this.lineOf(inv, it));
    inv.lines = { object: 'list', data: lines.slice(0, 10), has_more: lines.length > 10, url: `/v1/invoices/${inv.id}/lines`, total_count: lines.length };
  }

  lineOf(inv: Obj, it: Obj): Obj {
    return fromFixture<Obj>('line_item', {
      id: `il_${it.id.slice(3)}`,
      object: 'line_item',
      amount: it.amount,
      currency: it.currency,
      description: it.description,
      invoice: inv.id,
      metadata: it.metadata,
      period: it.period,
      quantity: 1,
      subtotal: it.amount,
      discount_amounts: [],
      discounts: [],
      pretax_credit_amounts: [],
      taxes: [],
      created: it.created,
      parent: { type: 'invoice_item_details', invoice_item_details: { invoice_item: it.id, proration: false, proration_details: { credited_items: null }, subscription: null }, subscription_item_details: null },
    });
  }

  linesOf(invoiceId: string): Obj[] {
    const inv = this.invoice(invoiceId, 'invoice');
    return this.itemsOf(invoiceId).map((it) => this.lineOf(inv, it));
  }

  // ---- credit notes -------------------------------------------------------------------------
  createCreditNote(p: Record<string, unknown>): Obj {
    const inv = this.invoice(String(p.invoice), 'invoice');
    if (inv.status !== 'open' && inv.status !== 'paid') throw invalid(`You can only create credit notes on open or paid invoices; this one is ${String(inv.status)}.`, 'invoice_not_editable' as string, 'invoice');
    const lines = (p.lines as Array<Record<string, unknown>> | undefined) ?? [];
    const invoiceLines = new Map(this.linesOf(inv.id).map((l) => [l.id, l]));
    const cnLines: Obj[] = [];
    let total = 0;
    for (const [i, l] of lines.entries()) {
      let amount: number;
      if (l.type === 'invoice_line_item') {
        const il = invoiceLines.get(String(l.invoice_line_item));
        if (!il) throw invalid(`No such invoice line item on ${inv.id}: ${String(l.invoice_line_item)}`, 'resource_missing', `lines[${i}][invoice_line_item]`);
        amount = l.amount !== undefined ? Number(l.amount) : Number(il.amount);
      } else {
        if (l.unit_amount === undefined) throw invalid(`Missing required param: lines[${i}][unit_amount].`, 'parameter_missing', `lines[${i}][unit_amount]`);
        amount = Number(l.unit_amount) * Number(l.quantity ?? 1);
      }
      if (amount <= 0) throw invalid('Credit note line amounts must be positive.', undefined, `lines[${i}]`);
      total += amount;
      cnLines.push(fromFixture<Obj>('credit_note_line_item', { id: newId('cnli'), amount, description: l.description ?? null, invoice_line_item: l.invoice_line_item ?? null, type: l.type, quantity: Number(l.quantity ?? 1), unit_amount: l.unit_amount ?? null, unit_amount_decimal: l.unit_amount === undefined ? null : String(l.unit_amount), tax_rates: [], pretax_credit_amounts: [], taxes: [], metadata: null, created: this.clock.now() }));
    }
    if (lines.length === 0) {
      if (p.amount === undefined) throw invalid('Missing required param: lines (or amount).', 'parameter_missing', 'lines');
      total = Number(p.amount);
    } else if (p.amount !== undefined && Number(p.amount) !== total) {
      throw invalid(`amount (${String(p.amount)}) must equal the sum of the lines (${total}).`, undefined, 'amount');
    }
    if (total <= 0) throw invalid('The credit note amount must be positive.', undefined, 'amount');
    const issued = [...this.creditNotes.values()].filter((cn) => cn.invoice === inv.id && cn.status === 'issued').reduce((s, cn) => s + Number(cn.amount), 0);
    if (issued + total > Number(inv.total)) {
      throw invalid(`The credit note amount (${total}) exceeds what remains creditable on the invoice (${Number(inv.total) - issued}).`, 'credit_note_amount_too_large' as string, 'amount');
    }
    const refund = Number(p.refund_amount ?? 0);
    const credit = Number(p.credit_amount ?? 0);
    const outOfBand = Number(p.out_of_band_amount ?? 0);
    const type = inv.status === 'paid' ? 'post_payment' : 'pre_payment';
    if (type === 'pre_payment' && refund > 0) throw invalid('You cannot refund an unpaid invoice.', undefined, 'refund_amount');
    if (type === 'post_payment' && refund + credit + outOfBand !== total) {
      throw invalid(`The sum of refund_amount, credit_amount and out_of_band_amount (${refund + credit + outOfBand}) must equal the credit note total (${total}).`, undefined, 'amount');
    }
    if (type === 'post_payment' && refund > Number(inv.amount_paid) - this.refundedOn(inv.id)) throw invalid('Refund amount exceeds what was paid.', undefined, 'refund_amount');
    const now = this.clock.now();
    const id = newId('cn');
    const refunds: Array<Record<string, unknown>> = [];
    if (refund > 0) {
      const r = fromFixture<Obj>('refund', { id: newId('re'), amount: refund, created: now, currency: inv.currency, status: 'succeeded', metadata: {}, charge: null, payment_intent: null, customer: inv.customer, reason: null });
      r.credit_note = id;
      r.invoice = inv.id;
      this.refunds.set(r.id, this.track(r));
      refunds.push({ amount_refunded: refund, refund: r.id, type: 'refund', payment_record_refund: null });
    }
    const n = [...this.creditNotes.values()].filter((cn) => cn.invoice === inv.id).length + 1;
    const cn = fromFixture<Obj>('credit_note', {
      id,
      created: now,
      effective_at: now,
      invoice: inv.id,
      customer: inv.customer,
      currency: inv.currency,
      amount: total,
      subtotal: total,
      subtotal_excluding_tax: total,
      total,
      total_excluding_tax: total,
      number: `${String(inv.number)}-CN-${String(n).padStart(2, '0')}`,
      status: 'issued',
      type,
      reason: p.reason ?? null,
      memo: p.memo ?? null,
      metadata: (p.metadata as Record<string, string>) ?? {},
      out_of_band_amount: outOfBand || null,
      refunds,
      customer_balance_transaction: null,
      voided_at: null,
      shipping_cost: null,
      pre_payment_amount: type === 'pre_payment' ? total : 0,
      post_payment_amount: type === 'post_payment' ? total : 0,
      pretax_credit_amounts: [],
      lines: { object: 'list', data: cnLines, has_more: false, url: `/v1/credit_notes/${id}/lines` },
      pdf: `${this.baseUrl()}/cn/${id}/pdf`,
    });
    this.creditNotes.set(id, this.track(cn));
    if (credit > 0) this.customer(String(inv.customer)).balance = Number(this.customer(String(inv.customer)).balance) - credit;
    this.recompute(inv);
    if (type === 'pre_payment' && Number(inv.amount_due) === 0 && inv.status === 'open') this.markPaid(inv, false);
    this.emit('credit_note.created', cn);
    return cn;
  }

  creditNote(id: string): Obj {
    const cn = this.creditNotes.get(id);
    if (!cn) throw missingResource('credit_note', id);
    return cn;
  }

  private refundedOn(invoiceId: string): number {
    return [...this.refunds.values()].filter((r) => r.invoice === invoiceId).reduce((s, r) => s + Number(r.amount), 0);
  }
}

function mergeMetadata(cur: Record<string, string>, given: Record<string, string>): Record<string, string> {
  if (Object.keys(given).length === 0) return {};
  const out = { ...cur };
  for (const [k, v] of Object.entries(given)) {
    if (v === '') delete out[k];
    else out[k] = v;
  }
  return out;
}
