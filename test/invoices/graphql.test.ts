/** GraphQL over generated invoices: status and paymentStatus for every role, money (amount due, credit applied) for admin/finance/platform only. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPlatform } from '../../src/db/index.js';
import { closeMonth, finalizeInvoice } from '../../src/invoices/index.js';
import { closeFactories, createTenant, createUser, testActor } from '../factories.js';
import { insertEvents } from '../graphql/data.js';
import { gql, mintJwt, startHarness, type Harness } from '../graphql/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

describe('invoice fields of the lifecycle', () => {
  it('finance sees paymentStatus and money; a member sees the invoice and its status but not its money', async () => {
    const t = await createTenant({ plan: 'starter' });
    await withPlatform(h.pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2026-08-01T00:00:00Z' WHERE tenant_id = $1`, [t.id]));
    const sep = Date.parse('2026-09-01T00:00:00Z');
    await insertEvents(h.clickhouse, Array.from({ length: 30 }, (_, i) => ({ tenantId: t.id, ts: new Date(sep + i * 60_000), items: 1 })));
    const deps = { pools: h.pools, clickhouse: h.clickhouse, redis: null, config: { REDIS_PREFIX: 'unused', INVOICE_NUMBER_PREFIX: 'GQ', USAGE_WATERMARK_SILENCE_MS: 600_000 } };
    const closed = await closeMonth(deps, { month: '2026-09', tenantId: t.id });
    const inv = await finalizeInvoice(deps, { invoiceId: closed.invoices[0]!.id, actor: testActor });
    const doc = 'query($id: ID!) { invoice(id: $id) { status paymentStatus number voidReason totalMicros amountDueMicros creditAppliedMicros lines { meter quantity } } }';
    const finance = await createUser({ tenantId: t.id, role: 'finance' });
    const f = await gql(h.url, doc, { token: await mintJwt(h.config, { sub: finance.id, tid: t.id, role: 'finance' }), variables: { id: inv.id } });
    expect(f.errors).toBeUndefined();
    expect(f.data.invoice).toMatchObject({ status: 'finalized', paymentStatus: 'pending', number: inv.number, voidReason: null, totalMicros: '0', amountDueMicros: '0', creditAppliedMicros: '0' });
    expect(f.data.invoice.lines.map((l: { meter: string }) => l.meter)).toEqual(['requests', 'items', 'compute_ms_cpu']);
    const member = await createUser({ tenantId: t.id, role: 'member' });
    const m = await gql(h.url, doc, { token: await mintJwt(h.config, { sub: member.id, tid: t.id, role: 'member' }), variables: { id: inv.id } });
    expect(m.data.invoice).toMatchObject({ status: 'finalized', paymentStatus: 'pending', totalMicros: null, amountDueMicros: null, creditAppliedMicros: null });
    expect(m.errors?.length).toBeGreaterThan(0);
  });
});
