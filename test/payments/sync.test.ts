/**
 * Invoice sync against the fake Stripe through the real SDK: one customer per tenant, one
 * invoice per Tollgate invoice, one item per line (integer minor units, line id in metadata),
 * 250-item grouping, collection method, retries of 500/429/timeouts with the same idempotency
 * key, lost answers not duplicated, resume after the keys expired (found by metadata), and a
 * permanent error left visible (failed state, last error, alert).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { startFakeStripe, FAKE_SECRET_KEY, type FakeStripe } from '../fake-stripe/index.js';
import { closeFactories, createTenant, factoryDeps } from '../factories.js';
import { withPlatform } from '../../src/db/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createStripeClient, syncInvoice, syncInvoices, type SyncDeps, type SyncableInvoice } from '../../src/payments/index.js';
import { createLogger } from '../../src/shared/index.js';
import { insertInvoice } from './helpers.js';

const { pools } = factoryDeps();
let fake: FakeStripe;
let stripe: Stripe;
const invoices = new Map<string, SyncableInvoice>();
let deps: SyncDeps;

beforeAll(async () => {
  fake = await startFakeStripe({ searchLagSeconds: 60 });
  const config = loadConfig({ ...process.env, STRIPE_SECRET_KEY: FAKE_SECRET_KEY, STRIPE_API_URL: fake.url, STRIPE_TIMEOUT_MS: '1500', STRIPE_RETRY_BASE_MS: '20' });
  stripe = createStripeClient(config)!;
  deps = {
    pools,
    logger: createLogger({ level: 'silent' }),
    stripe,
    config,
    loadInvoice: async (id) => invoices.get(id) ?? null,
    microsPerMinorUnit: () => 10_000n,
    retry: { maxWaitMs: 1_500 },
  };
});
afterAll(async () => {
  await fake?.close();
  await closeFactories();
});

/** A finalized Tollgate invoice of `lines` line amounts (micros), registered for the loader. */
async function tollgateInvoice(tenant: { id: string; name: string }, lines: bigint[], extra: Partial<SyncableInvoice> = {}): Promise<SyncableInvoice> {
  const id = await insertInvoice(pools, tenant.id);
  const subtotal = lines.reduce((a, b) => a + b, 0n);
  const inv: SyncableInvoice = {
    id,
    tenantId: tenant.id,
    tenantName: tenant.name,
    number: `TG-TEST-${id.slice(0, 6)}`,
    status: 'finalized',
    currency: 'USD',
    periodStart: new Date('2026-10-01T00:00:00Z'),
    periodEnd: new Date('2026-11-01T00:00:00Z'),
    taxMicros: 0n,
    creditAppliedMicros: 0n,
    amountDueMicros: subtotal + (extra.taxMicros ?? 0n) - (extra.creditAppliedMicros ?? 0n),
    lines: lines.map((m, i) => ({ id: String(100_000 + invoices.size * 1000 + i), description: `line ${i}`, roundedMicros: m })),
    ...extra,
  };
  invoices.set(id, inv);
  return inv;
}

function creates(path: string, since: number): number {
  return fake.requests.slice(since).filter((r) => r.method === 'POST' && r.path === path && r.status === 200 && !r.replayed).length;
}

async function row(invoiceId: string) {
  return withPlatform(pools.app, async (c) => (await c.query('SELECT * FROM stripe_invoices WHERE invoice_id = $1', [invoiceId])).rows[0]);
}

describe('stripe sync', () => {
  it('customer once per tenant, a draft invoice excluding pending items, one item per line, finalized; a re-sync changes nothing', async () => {
    const tenant = await createTenant();
    const a = await tollgateInvoice(tenant, [1_250_000n, 30_000n, 0n], { taxMicros: 240_000n, creditAppliedMicros: 100_000n });
    const since = fake.requests.length;
    const r = await syncInvoice(deps, a.id);
    expect(r).toEqual({ invoiceId: a.id, stripeInvoiceId: expect.stringMatching(/^in_/), items: 5 });
    const si = fake.state.invoice(r.stripeInvoiceId);
    expect(si).toMatchObject({ status: 'open', collection_method: 'send_invoice', days_until_due: 30, currency: 'usd', total: 125 + 3 + 0 + 24 - 10, metadata: { tollgate_invoice_id: a.id, tollgate_tenant_id: tenant.id } });
    const sent = fake.requests.slice(since).find((x) => x.method === 'POST' && x.path === '/v1/invoices')!;
    expect(sent).toMatchObject({ idempotencyKey: `tollgate:invoice:${a.id}:create`, params: { pending_invoice_items_behavior: 'exclude' } });
    const items = fake.state.itemsOf(si.id);
    expect(items.map((it) => [it.amount, it.metadata?.tollgate_line_id ?? it.metadata?.tollgate_item])).toEqual([
      [125, a.lines[0]!.id],
      [3, a.lines[1]!.id],
      [0, a.lines[2]!.id],
      [24, 'tax'],
      [-10, 'credit'],
    ]);
    expect(fake.requests.slice(since).filter((x) => x.path === '/v1/invoiceitems' && x.method === 'POST').map((x) => x.idempotencyKey)).toContain(`tollgate:invoice:${a.id}:line:${a.lines[0]!.id}`);
    expect(await row(a.id)).toMatchObject({ sync_state: 'synced', sync_step: 'done', stripe_invoice_id: si.id, hosted_invoice_url: si.hosted_invoice_url, stripe_status: 'open', items_synced: 5, last_error: null });

    const again = fake.requests.length;
    expect(await syncInvoice(deps, a.id)).toEqual(r);
    expect(fake.requests.slice(again).filter((x) => x.method === 'POST')).toEqual([]);

    // A second invoice of the tenant reuses its customer; with a default payment method it is charged automatically.
    await stripe.customers.update(String(si.customer), { invoice_settings: { default_payment_method: 'pm_card_visa' } });
    const b = await tollgateInvoice(tenant, [500_000n]);
    const before = fake.requests.length;
    const rb = await syncInvoice(deps, b.id);
    expect(creates('/v1/customers', before)).toBe(0);
    expect(fake.state.invoice(rb.stripeInvoiceId)).toMatchObject({ customer: si.customer, collection_method: 'charge_automatically', days_until_due: null, total: 50 });
  });

  it('more lines than Stripe allows: 249 items and one grouping the rest, the same total', async () => {
    const tenant = await createTenant();
    const lines = Array.from({ length: 300 }, (_, i) => BigInt(10_000 * (i + 1)));
    const inv = await tollgateInvoice(tenant, lines, { taxMicros: 10_000n });
    const r = await syncInvoice(deps, inv.id);
    expect(r.items).toBe(250);
    const si = fake.state.invoice(r.stripeInvoiceId);
    expect(fake.state.itemsOf(si.id)).toHaveLength(250);
    expect(si.total).toBe((300 * 301) / 2 + 1);
    const group = fake.state.itemsOf(si.id).find((it) => it.metadata?.tollgate_line_count);
    expect(group?.metadata).toMatchObject({ tollgate_line_count: '52', tollgate_line_ids: `${inv.lines[248]!.id}-${inv.lines[299]!.id}` });
  });

  it('500s, a 429 with Retry-After and a timeout are retried with the same key; a lost answer is replayed, not repeated', async () => {
    const tenant = await createTenant();
    const inv = await tollgateInvoice(tenant, [10_000n, 20_000n, 30_000n]);
    fake.inject({ kind: 'error500', method: 'POST', path: '/v1/customers', times: 2 });
    fake.inject({ kind: 'rate_limit', method: 'POST', path: '/v1/invoices', retryAfter: 1 });
    fake.inject({ kind: 'drop_after_commit', method: 'POST', path: '/v1/invoiceitems' });
    fake.inject({ kind: 'timeout', method: 'POST', path: /\/finalize$/ });
    const since = fake.requests.length;
    const r = await syncInvoice(deps, inv.id);
    const mine = fake.requests.slice(since);
    const customerPosts = mine.filter((x) => x.method === 'POST' && x.path === '/v1/customers');
    expect(customerPosts.map((x) => x.status)).toEqual([500, 500, 200]);
    expect(new Set(customerPosts.map((x) => x.idempotencyKey))).toEqual(new Set([`tollgate:tenant:${tenant.id}:customer`]));
    const invoicePosts = mine.filter((x) => x.method === 'POST' && x.path === '/v1/invoices');
    expect(invoicePosts.map((x) => [x.status, x.fault])).toEqual([
      [429, 'rate_limit'],
      [200, null],
    ]);
    const itemPosts = mine.filter((x) => x.method === 'POST' && x.path === '/v1/invoiceitems');
    expect(itemPosts[0]).toMatchObject({ fault: 'drop_after_commit' });
    expect(itemPosts[1]).toMatchObject({ replayed: true, idempotencyKey: itemPosts[0]!.idempotencyKey });
    expect(mine.filter((x) => x.path.endsWith('/finalize')).map((x) => x.fault)).toEqual(['timeout', null]);
    expect(fake.state.itemsOf(r.stripeInvoiceId)).toHaveLength(3);
    expect(fake.state.invoice(r.stripeInvoiceId)).toMatchObject({ status: 'open', total: 6 });
    expect([...fake.state.customers.values()].filter((c) => c.metadata?.tollgate_tenant_id === tenant.id)).toHaveLength(1);
  });

  it('resumes after the idempotency keys expired: finds the customer, invoice and items by metadata, creates only what is missing', async () => {
    const tenant = await createTenant();
    const inv = await tollgateInvoice(tenant, [10_000n, 20_000n, 30_000n, 40_000n]);
    // Two items go through, then every item create fails (500s past the retries): the sync stops midway.
    const orig = deps.stripe.invoiceItems.create.bind(deps.stripe.invoiceItems);
    let n = 0;
    deps.stripe.invoiceItems.create = ((...args: Parameters<typeof orig>) => {
      n += 1;
      if (n === 3) fake.inject({ kind: 'error500', method: 'POST', path: '/v1/invoiceitems', times: 100 });
      return orig(...args);
    }) as typeof orig;
    const failed = await syncInvoices(deps, { invoiceId: inv.id });
    deps.stripe.invoiceItems.create = orig;
    fake.clearFaults();
    expect(failed.synced).toEqual([]);
    expect(failed.failed).toEqual([{ invoiceId: inv.id, error: expect.stringContaining('unknown error'), retryable: true }]);
    expect(await row(inv.id)).toMatchObject({ sync_state: 'failed', sync_step: 'items', items_synced: 2, last_error: expect.stringContaining('unknown error') });
    const alert = await withPlatform(pools.app, async (c) => (await c.query(`SELECT kind, status FROM alerts WHERE tenant_id = $1 AND kind = 'stripe_sync'`, [tenant.id])).rows);
    expect(alert).toEqual([{ kind: 'stripe_sync', status: 'open' }]);

    // A day later the keys are gone; Tollgate also lost what it had recorded (the crash case).
    fake.advance(25 * 3600);
    await withPlatform(pools.app, async (c) => {
      await c.query('UPDATE stripe_invoices SET stripe_invoice_id = NULL WHERE invoice_id = $1', [inv.id]);
      await c.query('DELETE FROM stripe_mappings WHERE tenant_id = $1', [tenant.id]);
    });
    const since = fake.requests.length;
    const resumed = await syncInvoices(deps, { invoiceId: inv.id });
    expect(resumed.failed).toEqual([]);
    expect(creates('/v1/customers', since)).toBe(0);
    expect(creates('/v1/invoices', since)).toBe(0);
    expect(creates('/v1/invoiceitems', since)).toBe(2);
    const si = fake.state.invoice(resumed.synced[0]!.stripeInvoiceId);
    expect(fake.state.itemsOf(si.id).map((it) => it.amount)).toEqual([1, 2, 3, 4]);
    expect(si).toMatchObject({ status: 'open', total: 10 });
    expect([...fake.state.invoices.values()].filter((x) => x.metadata?.tollgate_invoice_id === inv.id)).toHaveLength(1);
    const resolved = await withPlatform(pools.app, async (c) => (await c.query(`SELECT status FROM alerts WHERE tenant_id = $1 AND kind = 'stripe_sync'`, [tenant.id])).rows);
    expect(resolved).toEqual([{ status: 'resolved' }]);
  });

  it('a permanent error leaves the invoice failed with its error and an alert, and the others still sync', async () => {
    const tenant = await createTenant();
    const bad = await tollgateInvoice(tenant, [12_345n]); // not a whole cent
    const good = await tollgateInvoice(tenant, [10_000n]);
    const r = await syncInvoices(deps, { invoiceId: bad.id });
    expect(r).toEqual({ synced: [], creditNotes: [], failed: [{ invoiceId: bad.id, error: expect.stringMatching(/not a whole minor unit/), retryable: false }] });
    expect(await row(bad.id)).toMatchObject({ sync_state: 'failed', last_error: expect.stringMatching(/not a whole minor unit/) });
    const alert = await withPlatform(pools.app, async (c) => (await c.query(`SELECT severity, status FROM alerts WHERE tenant_id = $1 AND kind = 'stripe_sync'`, [tenant.id])).rows);
    expect(alert).toEqual([{ severity: 'critical', status: 'open' }]);
    expect((await syncInvoices(deps, { invoiceId: good.id })).synced).toHaveLength(1);
    // A Stripe 4xx is permanent too: a recorded Stripe invoice that does not exist.
    const lost = await tollgateInvoice(tenant, [10_000n]);
    await withPlatform(pools.app, (c) => c.query(`INSERT INTO stripe_invoices (invoice_id, tenant_id, stripe_invoice_id) VALUES ($1, $2, 'in_doesnotexist')`, [lost.id, tenant.id]));
    const r2 = await syncInvoices(deps, { invoiceId: lost.id });
    expect(r2.failed).toEqual([{ invoiceId: lost.id, error: expect.stringMatching(/No such invoice/), retryable: false }]);
  });
});
