/**
 * The fake Stripe behaves as Stripe documents for what Tollgate uses, proven through the real
 * `stripe` SDK (its host/port/protocol options): idempotent replay, key mismatch, expiry,
 * items on draft invoices only, the 250-item limit, transitions, credit notes, search/list,
 * error shapes, faults, and webhook deliveries the SDK's own verifier accepts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { startFakeStripe, IDEMPOTENCY_KEY_TTL_SECONDS, MAX_INVOICE_ITEMS, type FakeStripe } from './index.js';

let fake: FakeStripe;
let stripe: Stripe;

beforeAll(async () => {
  fake = await startFakeStripe({ searchLagSeconds: 60 });
  stripe = fake.client({ maxNetworkRetries: 2, timeout: 1_500 });
});
afterAll(async () => {
  await fake.close();
});

async function draftWithCustomer(metadata: Record<string, string> = {}): Promise<{ customer: Stripe.Customer; invoice: Stripe.Invoice }> {
  const customer = await stripe.customers.create({ name: 'Acme', metadata });
  const invoice = await stripe.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'exclude', collection_method: 'send_invoice', days_until_due: 14, currency: 'usd', metadata });
  return { customer, invoice };
}

describe('fake Stripe through the real SDK', () => {
  it('answers objects shaped like Stripe fixtures and records what the SDK sent', async () => {
    const { customer, invoice } = await draftWithCustomer({ tollgate_tenant_id: 'x1' });
    expect(customer.object).toBe('customer');
    expect(customer.id).toMatch(/^cus_/);
    expect(customer.metadata).toEqual({ tollgate_tenant_id: 'x1' });
    expect(invoice).toMatchObject({ object: 'invoice', status: 'draft', customer: customer.id, currency: 'usd', collection_method: 'send_invoice', total: 0 });
    const rec = fake.requests.find((r) => r.path === '/v1/invoices' && r.method === 'POST' && r.params.customer === customer.id)!;
    expect(rec.params).toMatchObject({ pending_invoice_items_behavior: 'exclude', days_until_due: 14, metadata: { tollgate_tenant_id: 'x1' } });
    expect(rec.stripeVersion).toBe(Stripe.API_VERSION);
    expect(rec.idempotencyKey).toMatch(/^stripe-node-retry-/); // the SDK keys every POST
  });

  it('replays the same key with the same parameters, refuses other parameters, forgets keys after 24 h', async () => {
    const key = `k-${Date.now()}`;
    const a = await stripe.customers.create({ name: 'Once', metadata: { n: '1' } }, { idempotencyKey: key });
    const b = await stripe.customers.create({ name: 'Once', metadata: { n: '1' } }, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect(b.lastResponse.headers['idempotent-replayed']).toBe('true');
    const err = await stripe.customers.create({ name: 'Other' }, { idempotencyKey: key }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect((err as Stripe.errors.StripeError).statusCode).toBe(400);
    fake.advance(IDEMPOTENCY_KEY_TTL_SECONDS);
    const c = await stripe.customers.create({ name: 'Once', metadata: { n: '1' } }, { idempotencyKey: key });
    expect(c.id).not.toBe(a.id); // pruned: a new object
  });

  it('replays errors of an endpoint that ran, but not validation failures', async () => {
    const { customer, invoice } = await draftWithCustomer();
    await stripe.invoices.finalizeInvoice(invoice.id);
    const key = `item-${Date.now()}`;
    const e1 = (await stripe.invoiceItems.create({ customer: customer.id, invoice: invoice.id, amount: 5, currency: 'usd' }, { idempotencyKey: key }).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(e1.type).toBe('StripeInvalidRequestError');
    expect(e1.code).toBe('invoice_not_editable');
    const e2 = (await stripe.invoiceItems.create({ customer: customer.id, invoice: invoice.id, amount: 5, currency: 'usd' }, { idempotencyKey: key }).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(e2.requestId).toBe(e1.requestId); // the saved error, replayed
    const bad = `bad-${Date.now()}`;
    const v1 = (await stripe.invoiceItems.create({ customer: customer.id, amount: 1.5 as number, currency: 'usd' }, { idempotencyKey: bad }).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(v1.code).toBe('parameter_invalid_integer');
    const ok = await stripe.invoiceItems.create({ customer: customer.id, amount: 2, currency: 'usd' }, { idempotencyKey: bad });
    expect(ok.amount).toBe(2); // a validation failure saved nothing under the key
  });

  it('refuses unknown and missing parameters and unknown objects with Stripe error shapes', async () => {
    const unknown = (await stripe.customers.create({ name: 'x', colour: 'red' } as Stripe.CustomerCreateParams).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(unknown).toMatchObject({ type: 'StripeInvalidRequestError', code: 'parameter_unknown', param: 'colour', statusCode: 400 });
    const missing = (await stripe.invoices.create({} as Stripe.InvoiceCreateParams).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(missing).toMatchObject({ code: 'parameter_missing', param: 'customer' });
    const nf = (await stripe.invoices.retrieve('in_nope').catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(nf).toMatchObject({ code: 'resource_missing', statusCode: 404 });
    const wrongKey = new Stripe('sk_test_wrong', { ...fake.sdkOptions(), maxNetworkRetries: 0 });
    const auth = await wrongKey.customers.list().catch((e: unknown) => e);
    expect(auth).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  it('adds items only to drafts, at most 250, and totals them; finalize numbers and opens; pay/void/uncollectible transitions', async () => {
    const { customer, invoice } = await draftWithCustomer();
    for (let i = 0; i < MAX_INVOICE_ITEMS; i++) fake.state.createItem({ customer: customer.id, invoice: invoice.id, amount: 1, currency: 'usd' });
    const over = (await stripe.invoiceItems.create({ customer: customer.id, invoice: invoice.id, amount: 1, currency: 'usd' }).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(over.message).toMatch(/at most 250/);
    const fin = await stripe.invoices.finalizeInvoice(invoice.id);
    expect(fin).toMatchObject({ status: 'open', total: 250, amount_due: 250 });
    expect(fin.number).toMatch(/-0001$/);
    expect(fin.hosted_invoice_url).toContain(fin.id);
    const again = (await stripe.invoices.finalizeInvoice(invoice.id).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(again.code).toBe('invoice_not_editable');
    const lines = await stripe.invoices.listLineItems(invoice.id, { limit: 100 }).autoPagingToArray({ limit: 1000 });
    expect(lines).toHaveLength(250);
    const paid = await stripe.invoices.pay(invoice.id, { paid_out_of_band: true });
    expect(paid.status).toBe('paid');
    expect((await stripe.invoices.voidInvoice(invoice.id).catch((e: unknown) => e)) as Error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);

    const other = await draftWithCustomer();
    await stripe.invoiceItems.create({ customer: other.customer.id, invoice: other.invoice.id, amount: 700, currency: 'usd' });
    await stripe.invoices.finalizeInvoice(other.invoice.id);
    expect((await stripe.invoices.markUncollectible(other.invoice.id)).status).toBe('uncollectible');
    expect((await stripe.invoices.voidInvoice(other.invoice.id)).status).toBe('void');
  });

  it('pending_invoice_items_behavior: exclude leaves pending items alone, include pulls them in', async () => {
    const customer = await stripe.customers.create({ name: 'pending' });
    await stripe.invoiceItems.create({ customer: customer.id, amount: 123, currency: 'usd' });
    const ex = await stripe.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'exclude' });
    expect(ex.total).toBe(0);
    const inc = await stripe.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'include' });
    expect(inc.total).toBe(123);
  });

  it('credit notes: bounded by the invoice, refunds only when paid, post-payment amounts must add up', async () => {
    const { customer, invoice } = await draftWithCustomer();
    await stripe.invoiceItems.create({ customer: customer.id, invoice: invoice.id, amount: 1000, currency: 'usd' });
    await stripe.invoices.finalizeInvoice(invoice.id);
    const noRefund = (await stripe.creditNotes.create({ invoice: invoice.id, amount: 100, refund_amount: 100 }).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(noRefund.param).toBe('refund_amount');
    await stripe.invoices.pay(invoice.id, { paid_out_of_band: true });
    const bad = (await stripe.creditNotes.create({ invoice: invoice.id, amount: 300, refund_amount: 100 }).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(bad.message).toMatch(/must equal/);
    const cn = await stripe.creditNotes.create({ invoice: invoice.id, amount: 300, refund_amount: 100, out_of_band_amount: 200, reason: 'order_change', metadata: { tollgate_credit_note_id: 'cn1' } });
    expect(cn).toMatchObject({ object: 'credit_note', type: 'post_payment', amount: 300, out_of_band_amount: 200, status: 'issued' });
    expect(cn.refunds).toHaveLength(1);
    const tooMuch = (await stripe.creditNotes.create({ invoice: invoice.id, amount: 701, out_of_band_amount: 701 }).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(tooMuch.message).toMatch(/exceeds what remains/);
    const list = await stripe.creditNotes.list({ invoice: invoice.id });
    expect(list.data.map((c) => c.id)).toEqual([cn.id]);
  });

  it('search by metadata finds objects after the indexing lag; lists are immediate and paginate', async () => {
    const tag = `tag${Date.now()}`;
    const { customer } = await draftWithCustomer({ tollgate_tenant_id: tag });
    const q = `metadata['tollgate_tenant_id']:'${tag}'`;
    expect((await stripe.customers.search({ query: q })).data).toHaveLength(0);
    fake.advance(61);
    expect((await stripe.customers.search({ query: q })).data.map((c) => c.id)).toEqual([customer.id]);
    expect((await stripe.invoices.search({ query: q })).data).toHaveLength(1);
    const bad = (await stripe.customers.search({ query: 'metadata[nope' }).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(bad.statusCode).toBe(400);
    for (let i = 0; i < 5; i++) await stripe.invoiceItems.create({ customer: customer.id, amount: i + 1, currency: 'usd' });
    const all = await stripe.invoiceItems.list({ customer: customer.id, limit: 2 }).autoPagingToArray({ limit: 100 });
    expect(all.map((x) => x.amount)).toEqual([5, 4, 3, 2, 1]);
  });

  it('faults: 500 and a timeout are retried by the SDK with the same key; a lost answer after commit is replayed, not repeated', async () => {
    const before = fake.state.customers.size;
    fake.inject({ kind: 'error500', method: 'POST', path: '/v1/customers' });
    const a = await stripe.customers.create({ name: 'retry-500' });
    fake.inject({ kind: 'timeout', method: 'POST', path: '/v1/customers' });
    const b = await stripe.customers.create({ name: 'retry-timeout' });
    fake.inject({ kind: 'drop_after_commit', method: 'POST', path: '/v1/customers' });
    const c = await stripe.customers.create({ name: 'lost-answer' });
    expect(fake.state.customers.size).toBe(before + 3);
    for (const cust of [a, b, c]) {
      const reqs = fake.requests.filter((r) => r.path === '/v1/customers' && r.params.name === cust.name);
      expect(reqs.length).toBeGreaterThanOrEqual(2);
      expect(new Set(reqs.map((r) => r.idempotencyKey)).size).toBe(1);
    }
    expect(fake.requests.filter((r) => r.params.name === 'lost-answer').at(-1)!.replayed).toBe(true);
    // Held unanswered after the write: the client times out, its retry (same key) gets the saved answer.
    fake.inject({ kind: 'hang_after_commit', method: 'POST', path: '/v1/customers' });
    const d = await stripe.customers.create({ name: 'hung-answer' });
    expect(fake.state.customers.size).toBe(before + 4);
    const hung = fake.requests.filter((r) => r.params.name === 'hung-answer');
    expect(hung.map((r) => [r.fault, r.status, r.replayed])).toEqual([
      ['hang_after_commit', 200, false],
      [null, 200, true],
    ]);
    expect(d.id).toBe([...fake.state.customers.values()].find((x) => x.name === 'hung-answer')!.id);
    fake.inject({ kind: 'rate_limit', method: 'GET', path: /^\/v1\/customers\//, retryAfter: 2 });
    const rl = (await stripe.customers.retrieve(a.id).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(rl).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(rl.headers?.['retry-after']).toBe('2');
  });

  it('delivers events signed so the SDK verifies them; a wrong secret or stale timestamp fails verification', async () => {
    const secret = 'whsec_fake_test_secret';
    const got: Array<{ ok: boolean; type?: string; error?: string }> = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const ev = Stripe.webhooks.constructEvent(Buffer.concat(chunks), String(req.headers['stripe-signature']), secret, 300);
          got.push({ ok: true, type: ev.type });
          res.writeHead(200).end();
        } catch (e) {
          got.push({ ok: false, error: (e as Error).message });
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    fake.setWebhook({ url, secret });
    const { customer, invoice } = await draftWithCustomer();
    await stripe.invoiceItems.create({ customer: customer.id, invoice: invoice.id, amount: 42, currency: 'usd' });
    await stripe.invoices.finalizeInvoice(invoice.id);
    fake.attemptPayment(invoice.id, 'fail');
    fake.attemptPayment(invoice.id, 'succeed');
    await fake.settle();
    expect(got.filter((g) => g.ok).map((g) => g.type)).toEqual(['customer.created', 'invoice.created', 'invoiceitem.created', 'invoice.finalized', 'invoice.payment_failed', 'invoice.paid', 'invoice.payment_succeeded']);
    const paidEvent = fake.events.find((e) => e.type === 'invoice.paid' && (e.data as { object: { id: string } }).object.id === invoice.id)!;
    expect(await fake.deliver(paidEvent.id, { secret: 'whsec_other' })).toBe(400);
    expect(await fake.deliver(paidEvent.id, { timestamp: Math.floor(Date.now() / 1000) - 301 })).toBe(400);
    expect(got.at(-1)!.error).toMatch(/tolerance/i);
    fake.setWebhook(undefined);
    await new Promise<void>((r) => server.close(() => r()));
  });
});
