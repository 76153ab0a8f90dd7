/**
 * A simulated month collected through the fake Stripe: several tenants' finalized invoices
 * (tax, an applied credit balance), paid in Stripe, then a credit-type credit note and a refund.
 * Stripe's invoices, items and credit notes total exactly what Tollgate's rows say; the credit
 * goes out of band (not given twice), the refund is a Stripe refund.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, FAKE_SECRET_KEY, type FakeStripe } from '../fake-stripe/index.js';
import { closeFactories, createTenant, factoryDeps } from '../factories.js';
import { withPlatform } from '../../src/db/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createSyncDeps, syncInvoices, stripeStateByInvoiceIds } from '../../src/payments/index.js';
import { createLogger } from '../../src/shared/index.js';
import { insertCreditNote, insertFinalizedInvoice } from './helpers.js';

const { pools } = factoryDeps();
let fake: FakeStripe;
let deps: NonNullable<ReturnType<typeof createSyncDeps>>;

beforeAll(async () => {
  fake = await startFakeStripe();
  const config = loadConfig({ ...process.env, STRIPE_SECRET_KEY: FAKE_SECRET_KEY, STRIPE_API_URL: fake.url, STRIPE_RETRY_BASE_MS: '20' });
  deps = createSyncDeps({ pools, logger: createLogger({ level: 'silent' }), config })!;
});
afterAll(async () => {
  await fake?.close();
  await closeFactories();
});

describe('a month collected through Stripe', () => {
  it("Stripe's invoices, items and credit notes total what Tollgate's invoices and credit notes say", async () => {
    const month: Array<{ tenantId: string; invoiceId: string }> = [];
    // The first with tax and a credit balance applied (what the tenant owes is the amount due).
    for (const [amounts, opts] of [
      [[12_340_000n, 560_000n], { taxMicros: 2_460_000n, creditAppliedMicros: 1_000_000n }],
      [[99_990_000n], {}],
      [[10_000n, 20_000n, 30_000n, 40_000n], {}],
    ] as const) {
      const t = await createTenant();
      const inv = await insertFinalizedInvoice(pools, t.id, [...amounts], opts);
      month.push({ tenantId: t.id, invoiceId: inv.id });
    }
    for (const m of month) expect((await syncInvoices(deps, { invoiceId: m.invoiceId })).failed).toEqual([]);

    const rows = await withPlatform(pools.app, async (c) => (await c.query(`SELECT id, amount_due_micros::text AS due FROM invoices WHERE id = ANY($1::uuid[])`, [month.map((m) => m.invoiceId)])).rows);
    const states = await withPlatform(pools.app, (c) => stripeStateByInvoiceIds(c, month.map((m) => m.invoiceId)));
    for (const r of rows) {
      const s = states.find((x) => x.invoiceId === r.id)!;
      const si = fake.state.invoice(s.stripeInvoiceId!);
      const items = fake.state.itemsOf(si.id).reduce((a, it) => a + Number(it.amount), 0);
      expect({ total: si.total, items }).toEqual({ total: Number(BigInt(r.due) / 10_000n), items: Number(BigInt(r.due) / 10_000n) });
    }

    // Paid in Stripe; then a credit (already a Tollgate balance) and a refund.
    for (const s of states) fake.attemptPayment(s.stripeInvoiceId!, 'succeed');
    const refundOn = month[1]!;
    const creditOn = month[2]!;
    const refund = await insertCreditNote(pools, { tenantId: refundOn.tenantId, invoiceId: refundOn.invoiceId, type: 'refund', amountMicros: 9_990_000n, reason: 'outage refund' });
    const credit = await insertCreditNote(pools, { tenantId: creditOn.tenantId, invoiceId: creditOn.invoiceId, type: 'credit', amountMicros: 30_000n, reason: 'goodwill' });
    const r1 = await syncInvoices(deps, { invoiceId: refundOn.invoiceId });
    const r2 = await syncInvoices(deps, { invoiceId: creditOn.invoiceId });
    expect([...r1.failed, ...r2.failed]).toEqual([]);
    expect([...r1.creditNotes, ...r2.creditNotes].map((c) => [c.creditNoteId, c.type, c.amount])).toEqual([
      [refund, 'refund', 999],
      [credit, 'credit', 3],
    ]);
    const notes = [...fake.state.creditNotes.values()];
    const refundNote = notes.find((n) => n.metadata?.tollgate_credit_note_id === refund)!;
    const creditNote = notes.find((n) => n.metadata?.tollgate_credit_note_id === credit)!;
    expect(refundNote).toMatchObject({ amount: 999, type: 'post_payment', out_of_band_amount: null });
    expect([...fake.state.refunds.values()].filter((x) => x.credit_note === refundNote.id).map((x) => x.amount)).toEqual([999]);
    expect(creditNote).toMatchObject({ amount: 3, type: 'post_payment', out_of_band_amount: 3, refunds: [] });
    // Again: nothing new.
    const since = fake.requests.length;
    await syncInvoices(deps, { invoiceId: refundOn.invoiceId });
    await syncInvoices(deps, { invoiceId: creditOn.invoiceId });
    expect(fake.requests.slice(since).filter((x) => x.method === 'POST')).toEqual([]);
    const cnRows = await withPlatform(pools.app, async (c) => (await c.query(`SELECT sync_state, stripe_credit_note_id FROM stripe_credit_notes WHERE credit_note_id = ANY($1::uuid[]) ORDER BY created_at`, [[refund, credit]])).rows);
    expect(cnRows).toEqual([
      { sync_state: 'synced', stripe_credit_note_id: refundNote.id },
      { sync_state: 'synced', stripe_credit_note_id: creditNote.id },
    ]);
  });
});
