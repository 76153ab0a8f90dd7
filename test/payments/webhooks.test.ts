/**
 * POST /webhooks/stripe against the real API server, with events made by the fake Stripe through
 * the real SDK (invoice created, finalized, payment attempts) and signed with
 * stripe.webhooks.generateTestHeaderString: signature and timestamp checks, each event once,
 * out-of-order deliveries, unknown types, and dunning (past_due → suspended → lifted by payment).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { startFakeStripe, type FakeStripe, type Obj } from '../fake-stripe/index.js';
import { gql, mintJwt, startHarness, type Harness } from '../graphql/harness.js';
import { closeFactories, createApiKey, createTenant, createUser, testActor } from '../factories.js';
import { withPlatform } from '../../src/db/index.js';
import { getTenant, setTenantStatus } from '../../src/tenants/index.js';
import { receiveStripeWebhook, runDunningCheck } from '../../src/payments/index.js';
import { createLogger } from '../../src/shared/index.js';
import { insertFinalizedInvoice, insertInvoice, postEvent } from './helpers.js';

const SECRET = 'whsec_tollgate_test_0123456789abcdef';
let h: Harness;
let fake: FakeStripe;
let stripe: Stripe;
let hook: string;

beforeAll(async () => {
  h = await startHarness({ env: { STRIPE_WEBHOOK_SECRET: SECRET } });
  hook = h.url.replace(/\/graphql$/, '/webhooks/stripe');
  fake = await startFakeStripe({ webhook: { url: hook, secret: SECRET, autoDeliver: false } });
  stripe = fake.client();
});
afterAll(async () => {
  await fake?.close();
  await h?.close();
  await closeFactories();
});

/** A tenant with a Tollgate invoice and its open Stripe invoice (send_invoice), as the sync leaves them. */
async function openInvoice(tenantId?: string, opts: { finalized?: boolean } = {}): Promise<{ tenantId: string; invoiceId: string; stripeInvoice: Stripe.Invoice }> {
  const tid = tenantId ?? (await createTenant()).id;
  const invoiceId = opts.finalized ? (await insertFinalizedInvoice(h.pools, tid, [12_340_000n])).id : await insertInvoice(h.pools, tid);
  const customer = await stripe.customers.create({ name: tid, metadata: { tollgate_tenant_id: tid } });
  const draft = await stripe.invoices.create({ customer: customer.id, collection_method: 'send_invoice', days_until_due: 30, pending_invoice_items_behavior: 'exclude', metadata: { tollgate_invoice_id: invoiceId, tollgate_tenant_id: tid } });
  await stripe.invoiceItems.create({ customer: customer.id, invoice: draft.id, amount: 1234, currency: 'usd' });
  const open = await stripe.invoices.finalizeInvoice(draft.id!);
  return { tenantId: tid, invoiceId, stripeInvoice: open };
}

function lastEvent(type: string, stripeInvoiceId: string): Obj {
  const e = [...fake.events].reverse().find((x) => x.type === type && (x.data as { object: { id: string } }).object.id === stripeInvoiceId);
  if (!e) throw new Error(`no ${type} for ${stripeInvoiceId}`);
  return e;
}

async function send(event: Obj, opts: { secret?: string; timestamp?: number } = {}) {
  return postEvent(hook, JSON.stringify(event, null, 2), { secret: opts.secret ?? SECRET, timestamp: opts.timestamp });
}

async function eventRows(id: string) {
  return withPlatform(h.pools.app, async (c) => (await c.query('SELECT outcome FROM stripe_events WHERE id = $1', [id])).rows);
}

async function auditCount(invoiceId: string) {
  return withPlatform(h.pools.app, async (c) => (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE target_type = 'invoice' AND target_id = $1`, [invoiceId])).rows[0]!.n);
}

describe('POST /webhooks/stripe: verification', () => {
  it('a bad signature or a timestamp outside 300 s is 400 and changes nothing; a missing header is 400', async () => {
    const { stripeInvoice } = await openInvoice();
    fake.attemptPayment(stripeInvoice.id!, 'fail');
    const ev = lastEvent('invoice.payment_failed', stripeInvoice.id!);
    const bad = await send(ev, { secret: 'whsec_someone_else' });
    expect(bad.status).toBe(400);
    expect(String(bad.body.error)).toMatch(/signature/i);
    const stale = await send(ev, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    expect(stale.status).toBe(400);
    expect(String(stale.body.error)).toMatch(/tolerance/i);
    const tampered = await postEvent(hook, JSON.stringify({ ...ev, type: 'invoice.paid' }), { secret: SECRET, signature: (await import('stripe')).default.webhooks.generateTestHeaderString({ payload: JSON.stringify(ev), secret: SECRET }) });
    expect(tampered.status).toBe(400);
    const none = await fetch(hook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ev) });
    expect(none.status).toBe(400);
    expect(await eventRows(ev.id)).toEqual([]);
    // Within the tolerance (299 s old) the same event is accepted.
    expect((await send(ev, { timestamp: Math.floor(Date.now() / 1000) - 299 })).status).toBe(200);
  });

  it('without STRIPE_WEBHOOK_SECRET the route answers 503 naming the setting', async () => {
    const r = await receiveStripeWebhook({ pools: h.pools, logger: createLogger({ level: 'silent' }), config: { REDIS_PREFIX: h.config.REDIS_PREFIX } }, { rawBody: Buffer.from('{}'), signature: 't=1,v1=x' });
    expect(r).toEqual({ status: 503, body: { error: expect.stringContaining('STRIPE_WEBHOOK_SECRET') } });
  });

  it('an unknown event type, or an invoice that is not Tollgate\'s, is acknowledged (200) and recorded as ignored', async () => {
    const { stripeInvoice } = await openInvoice();
    const finalized = lastEvent('invoice.finalized', stripeInvoice.id!);
    expect((await send(finalized)).body).toMatchObject({ received: true, outcome: 'ignored' });
    const foreignCustomer = await stripe.customers.create({ name: 'not-tollgate' });
    const foreign = await stripe.invoices.create({ customer: foreignCustomer.id, collection_method: 'send_invoice', days_until_due: 7 });
    await stripe.invoiceItems.create({ customer: foreignCustomer.id, invoice: foreign.id, amount: 500, currency: 'usd' });
    await stripe.invoices.finalizeInvoice(foreign.id!);
    fake.attemptPayment(foreign.id!, 'fail');
    expect((await send(lastEvent('invoice.payment_failed', foreign.id!))).body).toMatchObject({ outcome: 'ignored' });
    expect(await eventRows(finalized.id)).toEqual([{ outcome: 'ignored' }]);
  });
});

describe('POST /webhooks/stripe: each event once, in order', () => {
  it('a duplicate delivery — also several at once — is applied once', async () => {
    const { tenantId, invoiceId, stripeInvoice } = await openInvoice();
    fake.attemptPayment(stripeInvoice.id!, 'fail');
    const ev = lastEvent('invoice.payment_failed', stripeInvoice.id!);
    const results = await Promise.all(Array.from({ length: 5 }, () => send(ev)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.map((r) => r.body.outcome).sort()).toEqual(['applied', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    expect((await send(ev)).body.outcome).toBe('duplicate');
    expect(await auditCount(invoiceId)).toBe(1);
    expect(await getTenant({ pools: h.pools }, { tenantId })).toMatchObject({ status: 'past_due' });
  });

  it('out of order: a late payment_failed after paid changes nothing; an older event never overwrites a newer one', async () => {
    const { tenantId, invoiceId, stripeInvoice } = await openInvoice();
    fake.attemptPayment(stripeInvoice.id!, 'fail');
    fake.advance(3600);
    fake.attemptPayment(stripeInvoice.id!, 'succeed');
    const failed = lastEvent('invoice.payment_failed', stripeInvoice.id!);
    const paid = lastEvent('invoice.paid', stripeInvoice.id!);
    expect((await send(paid)).body.outcome).toBe('applied');
    expect((await send(failed)).body.outcome).toBe('stale');
    expect(await getTenant({ pools: h.pools }, { tenantId })).toMatchObject({ status: 'active' });
    const row = await withPlatform(h.pools.app, async (c) => (await c.query('SELECT stripe_status, payment_failed_at, paid_at, hosted_invoice_url FROM stripe_invoices WHERE invoice_id = $1', [invoiceId])).rows[0]);
    expect(row).toMatchObject({ stripe_status: 'paid', payment_failed_at: null, hosted_invoice_url: stripeInvoice.hosted_invoice_url });

    // Non-final states: marked_uncollectible (newer) arrives before payment_failed (older).
    const second = await openInvoice(tenantId);
    fake.attemptPayment(second.stripeInvoice.id!, 'fail');
    fake.advance(3600);
    await stripe.invoices.markUncollectible(second.stripeInvoice.id!);
    expect((await send(lastEvent('invoice.marked_uncollectible', second.stripeInvoice.id!))).body.outcome).toBe('applied');
    expect((await send(lastEvent('invoice.payment_failed', second.stripeInvoice.id!))).body.outcome).toBe('stale');
    const s = await withPlatform(h.pools.app, async (c) => (await c.query('SELECT stripe_status FROM stripe_invoices WHERE invoice_id = $1', [second.invoiceId])).rows[0]);
    expect(s).toEqual({ stripe_status: 'uncollectible' });
    // Voided: no longer owed, the tenant is active again.
    await stripe.invoices.voidInvoice(second.stripeInvoice.id!);
    expect((await send(lastEvent('invoice.voided', second.stripeInvoice.id!))).body.outcome).toBe('applied');
    expect(await getTenant({ pools: h.pools }, { tenantId })).toMatchObject({ status: 'active' });
  });
});

describe('the Tollgate invoice\'s payment status', () => {
  const paymentStatus = async (invoiceId: string) =>
    withPlatform(h.pools.app, async (c) => (await c.query<{ payment_status: string; paid_at: Date | null }>('SELECT payment_status, paid_at FROM invoices WHERE id = $1', [invoiceId])).rows[0]!);

  it('follows Stripe: failed, then paid (with Stripe\'s paid time); a late failure never undoes paid; audited with before/after', async () => {
    const { invoiceId, stripeInvoice } = await openInvoice(undefined, { finalized: true });
    expect(await paymentStatus(invoiceId)).toMatchObject({ payment_status: 'pending', paid_at: null });
    fake.attemptPayment(stripeInvoice.id!, 'fail');
    expect((await send(lastEvent('invoice.payment_failed', stripeInvoice.id!))).body.outcome).toBe('applied');
    expect(await paymentStatus(invoiceId)).toMatchObject({ payment_status: 'failed', paid_at: null });
    fake.advance(3600);
    fake.attemptPayment(stripeInvoice.id!, 'succeed');
    const paid = lastEvent('invoice.paid', stripeInvoice.id!);
    expect((await send(paid)).body.outcome).toBe('applied');
    const after = await paymentStatus(invoiceId);
    expect(after.payment_status).toBe('paid');
    const paidAt = (paid.data as { object: { status_transitions?: { paid_at?: number } } }).object.status_transitions?.paid_at ?? paid.created;
    expect(after.paid_at!.getTime()).toBe(Number(paidAt) * 1000);
    // The failure delivered again after the payment: a duplicate, and the invoice stays paid.
    expect((await send(lastEvent('invoice.payment_failed', stripeInvoice.id!))).body.outcome).toBe('duplicate');
    expect((await paymentStatus(invoiceId)).payment_status).toBe('paid');
    const audit = await withPlatform(h.pools.app, async (c) => (await c.query(`SELECT before, after FROM audit_log WHERE target_type = 'invoice' AND target_id = $1 ORDER BY id`, [invoiceId])).rows);
    expect(audit.map((a) => [a.before.paymentStatus, a.after.paymentStatus])).toEqual([
      ['pending', 'failed'],
      ['failed', 'paid'],
    ]);
  });

  it('marked uncollectible sets uncollectible; a draft invoice (never sent for payment) keeps pending', async () => {
    const finalized = await openInvoice(undefined, { finalized: true });
    await stripe.invoices.markUncollectible(finalized.stripeInvoice.id!);
    expect((await send(lastEvent('invoice.marked_uncollectible', finalized.stripeInvoice.id!))).body.outcome).toBe('applied');
    expect((await paymentStatus(finalized.invoiceId)).payment_status).toBe('uncollectible');

    const draft = await openInvoice();
    fake.attemptPayment(draft.stripeInvoice.id!, 'succeed');
    expect((await send(lastEvent('invoice.paid', draft.stripeInvoice.id!))).body.outcome).toBe('applied');
    expect((await paymentStatus(draft.invoiceId)).payment_status).toBe('pending');
  });
});

describe('dunning', () => {
  it('payment_failed → past_due (served, alert) → suspended with reason dunning after the plan days (403) → paid lifts it; audited', async () => {
    const { tenantId, stripeInvoice } = await openInvoice();
    const key = await createApiKey({ tenantId, role: 'admin' });
    fake.attemptPayment(stripeInvoice.id!, 'fail');
    expect((await send(lastEvent('invoice.payment_failed', stripeInvoice.id!))).body.outcome).toBe('applied');
    const seen = await gql(h.url, '{ tenant { status suspensionReason } }', { token: key.secret });
    expect(seen.data).toEqual({ tenant: { status: 'past_due', suspensionReason: null } });
    const alerts = await withPlatform(h.pools.app, async (c) => (await c.query(`SELECT kind, severity, status FROM alerts WHERE tenant_id = $1 AND kind = 'dunning'`, [tenantId])).rows);
    expect(alerts).toEqual([{ kind: 'dunning', severity: 'warning', status: 'open' }]);

    const logger = createLogger({ level: 'silent' });
    const deps = { pools: h.pools, logger, redis: h.redis, config: h.config };
    // Starter's terms: suspended 14 days after the first failure (the fake's clock), not a day earlier.
    const failedAt = fake.now() * 1000;
    expect((await runDunningCheck(deps, { now: new Date(failedAt + 13 * 86_400_000) })).changes.filter((c) => c.tenantId === tenantId)).toEqual([]);
    const check = await runDunningCheck(deps, { now: new Date(failedAt + 14 * 86_400_000 + 1000) });
    expect(check.changes.filter((c) => c.tenantId === tenantId)).toEqual([{ tenantId, from: 'past_due', to: 'suspended', reason: 'dunning' }]);
    let refused;
    for (let i = 0; i < 40; i++) {
      refused = await gql(h.url, '{ tenant { status } }', { token: key.secret });
      if (refused.errors) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(refused!.errors?.[0]?.message).toBe('tenant suspended');
    const platform = await createUser({});
    const op = await mintJwt(h.config, { sub: platform.id, tid: tenantId, role: 'platform' });
    expect((await gql(h.url, `{ tenant(id: "${tenantId}") { status suspensionReason } }`, { token: op })).data).toEqual({ tenant: { status: 'suspended', suspensionReason: 'dunning' } });

    fake.attemptPayment(stripeInvoice.id!, 'succeed');
    expect((await send(lastEvent('invoice.paid', stripeInvoice.id!))).body.outcome).toBe('applied');
    expect(await getTenant({ pools: h.pools }, { tenantId })).toMatchObject({ status: 'active', suspensionReason: null });
    const audit = await withPlatform(h.pools.app, async (c) => (await c.query(`SELECT action, actor_id FROM audit_log WHERE tenant_id = $1 AND action IN ('tenant.status', 'invoice.paid', 'invoice.payment_failed') ORDER BY at, id`, [tenantId])).rows);
    expect(audit).toEqual([
      { action: 'invoice.payment_failed', actor_id: 'stripe' },
      { action: 'tenant.status', actor_id: 'stripe' },
      { action: 'tenant.status', actor_id: 'dunning' },
      { action: 'invoice.paid', actor_id: 'stripe' },
      { action: 'tenant.status', actor_id: 'stripe' },
    ]);
    const open = await withPlatform(h.pools.app, async (c) => (await c.query(`SELECT count(*)::int AS n FROM alerts WHERE tenant_id = $1 AND kind = 'dunning' AND status <> 'resolved'`, [tenantId])).rows[0]);
    expect(open).toEqual({ n: 0 });
  });

  it("payment never lifts an operator's suspension", async () => {
    const { tenantId, stripeInvoice } = await openInvoice();
    fake.attemptPayment(stripeInvoice.id!, 'fail');
    await send(lastEvent('invoice.payment_failed', stripeInvoice.id!));
    await setTenantStatus({ pools: h.pools }, { tenantId, status: 'suspended', actor: testActor });
    const check = await runDunningCheck({ pools: h.pools, logger: createLogger({ level: 'silent' }), redis: null, config: h.config }, { now: new Date(fake.now() * 1000 + 30 * 86_400_000) });
    expect(check.changes.filter((c) => c.tenantId === tenantId)).toEqual([]);
    fake.attemptPayment(stripeInvoice.id!, 'succeed');
    expect((await send(lastEvent('invoice.paid', stripeInvoice.id!))).body.outcome).toBe('applied');
    expect(await getTenant({ pools: h.pools }, { tenantId })).toMatchObject({ status: 'suspended', suspensionReason: 'operator' });
  });
});
