/**
 * Invoice lifecycle against real Postgres, ClickHouse and Redis: finalize (numbers gapless under
 * concurrency, idempotent, refused for void/generating/unended), replica watermarks blocking
 * finalization (force audited, silent replicas reported), void with a reason and regenerate,
 * tax and credit balance, late usage for a finalized period as an adjustment line on the next
 * invoice (never twice), and the worker's scan (refresh in grace, finalize after it).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, type ClickHouse } from '../../src/clickhouse/index.js';
import { withPlatform } from '../../src/db/index.js';
import {
  closeMonth,
  finalizeInvoice,
  getInvoiceForPlatform,
  regenerateInvoice,
  runBillingScan,
  setBillingSettings,
  voidInvoice,
  type LifecycleDeps,
} from '../../src/invoices/index.js';
import { createRedis, type Redis } from '../../src/shared/index.js';
import { publishWatermark, startWatermarkPublisher, readWatermarks } from '../../src/usage/index.js';
import { closeFactories, createTenant, factoryDeps, testActor, uniqueName } from '../factories.js';
import { insertEvents, type EventSpec } from '../graphql/data.js';

let ch: ClickHouse;
let redis: Redis;
const PREFIX = `T${randomBytes(3).toString('hex').toUpperCase()}`;
const REDIS_PREFIX = `billing-test-${randomBytes(4).toString('hex')}`;
let deps: LifecycleDeps;

const SEP = Date.parse('2026-09-01T00:00:00Z');
const OCT = Date.parse('2026-10-01T00:00:00Z');
const NOV = Date.parse('2026-11-01T00:00:00Z');
let plan = '';

function spread(tenantId: string, from: number, to: number, n: number, extra: Partial<EventSpec> = {}): EventSpec[] {
  const step = Math.floor((to - from) / n);
  return Array.from({ length: n }, (_, i) => ({ tenantId, ts: new Date(from + i * step), items: 1, computeUs: 2000, ...extra }));
}

async function tenant(): Promise<string> {
  const t = await createTenant({ plan });
  await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2026-08-01T00:00:00Z' WHERE tenant_id = $1`, [t.id]));
  return t.id;
}

async function draftFor(tenantId: string, month = '2026-09', events = 1500): Promise<string> {
  const from = month === '2026-09' ? SEP : OCT;
  const to = month === '2026-09' ? OCT : NOV;
  if (events) await insertEvents(ch, spread(tenantId, from, to, events));
  const r = await closeMonth(deps, { month, tenantId });
  return r.invoices[0]!.id;
}

beforeAll(async () => {
  ch = createClickHouse(factoryDeps().config);
  redis = createRedis(factoryDeps().config);
  deps = { pools: factoryDeps().pools, clickhouse: ch, redis, config: { REDIS_PREFIX, INVOICE_NUMBER_PREFIX: PREFIX, USAGE_WATERMARK_SILENCE_MS: 600_000 } };
  // requests: 100 µ$ above 1,000 included (i.e. 1,500 requests = 5 cents).
  plan = await withPlatform(factoryDeps().pools.app, async (c) => {
    const code = uniqueName('life').slice(0, 40);
    const { rows } = await c.query(`INSERT INTO plans (code, name, priority_tier, rate_limit_rps, burst, max_concurrency) VALUES ($1, $1, 2, 10, 10, 2) RETURNING id`, [code]);
    await c.query(`INSERT INTO price_components (plan_id, meter, model, unit_price_micros, included_quantity, effective_from) VALUES ($1, 'requests', 'standard', 100, 1000, '2020-01-01T00:00:00Z')`, [rows[0].id]);
    return code;
  });
});
afterAll(async () => {
  await ch?.close();
  redis?.disconnect();
  await closeFactories();
});

describe('finalize', () => {
  it('numbers PREFIX-YEAR-NNNNNN without gaps under concurrent finalizations, and is idempotent', async () => {
    const ids = await Promise.all([1, 2, 3, 4, 5].map(async () => draftFor(await tenant())));
    const done = await Promise.all(ids.map((id) => finalizeInvoice(deps, { invoiceId: id, actor: testActor })));
    const year = new Date().getUTCFullYear();
    const numbers = done.map((d) => d.number!).sort();
    expect(numbers).toEqual([1, 2, 3, 4, 5].map((n) => `${PREFIX}-${year}-${String(n).padStart(6, '0')}`));
    for (const d of done) expect(d).toMatchObject({ status: 'finalized', paymentStatus: 'pending', totalMicros: 50_000n, amountDueMicros: 50_000n });
    const again = await finalizeInvoice(deps, { invoiceId: ids[0]!, actor: testActor });
    expect(again.number).toBe(done[0]!.number);
    // Finalized invoices are immutable, even from SQL.
    await expect(withPlatform(factoryDeps().pools.app, (c) => c.query('UPDATE invoices SET total_micros = 1 WHERE id = $1', [ids[0]]))).rejects.toThrow(/immutable/);
    await expect(withPlatform(factoryDeps().pools.app, (c) => c.query('DELETE FROM invoice_lines WHERE invoice_id = $1', [ids[0]]))).rejects.toThrow(/cannot change/);
  });

  it('refuses a period that has not ended, a generating invoice and an unknown id', async () => {
    const t = await tenant();
    await withPlatform(factoryDeps().pools.app, (c) =>
      c.query(`INSERT INTO invoices (tenant_id, period_start, period_end, status) VALUES ($1, $2, $3, 'generating')`, [t, new Date(OCT), new Date(NOV)]),
    );
    const gen = await withPlatform(factoryDeps().pools.app, (c) => c.query(`SELECT id FROM invoices WHERE tenant_id = $1`, [t]));
    await expect(finalizeInvoice(deps, { invoiceId: gen.rows[0].id, actor: testActor })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(finalizeInvoice(deps, { invoiceId: '00000000-0000-4000-8000-000000000000', actor: testActor })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const draft = await draftFor(await tenant());
    await expect(finalizeInvoice(deps, { invoiceId: draft, actor: testActor, now: new Date(OCT - 1) })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});

describe('replica watermarks', () => {
  it('a live replica that has not flushed past the period end blocks finalization; --force finalizes and is audited; a silent replica only is reported', async () => {
    const prefix = `${REDIS_PREFIX}-wm`;
    const d = { ...deps, config: { ...deps.config, REDIS_PREFIX: prefix } };
    const now = new Date();
    await publishWatermark(redis, { REDIS_PREFIX: prefix }, { walId: 'replica-a', flushedThrough: new Date(OCT - 60_000), seenAt: now });
    await publishWatermark(redis, { REDIS_PREFIX: prefix }, { walId: 'replica-old', flushedThrough: new Date(SEP), seenAt: new Date(now.getTime() - 3_600_000) });
    const id = await draftFor(await tenant());
    const refused = await finalizeInvoice(d, { invoiceId: id, actor: testActor }).catch((e: unknown) => e as { code: string; message: string; details: Record<string, unknown> });
    expect(refused).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/replica-a has flushed only through/) });
    expect((refused as { details: { silent: string[] } }).details.silent).toEqual(['replica-old']);
    expect((await getInvoiceForPlatform(deps, { id }))!.status).toBe('draft');

    const forced = await finalizeInvoice(d, { invoiceId: id, actor: testActor, force: true });
    expect(forced).toMatchObject({ status: 'finalized', forced: true });
    const audit = await withPlatform(factoryDeps().pools.app, (c) => c.query(`SELECT after FROM audit_log WHERE target_id = $1 AND action = 'invoice.finalize'`, [id]));
    expect(audit.rows[0].after).toMatchObject({ forced: true, laggingReplicas: [{ replica: 'replica-a' }], silentReplicas: ['replica-old'] });

    // Once the replica has flushed past the end, nothing blocks.
    await publishWatermark(redis, { REDIS_PREFIX: prefix }, { walId: 'replica-a', flushedThrough: new Date(OCT + 1), seenAt: new Date() });
    const id2 = await draftFor(await tenant());
    expect((await finalizeInvoice(d, { invoiceId: id2, actor: testActor })).forced).toBe(false);
  });

  it('the publisher advances the watermark only while the WAL has no backlog', async () => {
    const prefix = `${REDIS_PREFIX}-pub`;
    let backlog = 3;
    let clock = 1_000_000_000_000;
    const stop = startWatermarkPublisher({
      redis,
      config: { REDIS_PREFIX: prefix, INFERENCE_REQUEST_TIMEOUT_MS: 30_000 },
      walId: 'w1',
      backlog: () => backlog,
      intervalMs: 20,
      logger: { warn: () => undefined } as never,
      now: () => clock,
    });
    await new Promise((r) => setTimeout(r, 80));
    let w = (await readWatermarks(redis, { REDIS_PREFIX: prefix }))[0]!;
    expect(w.flushedThrough.getTime()).toBe(0);
    expect(w.seenAt.getTime()).toBe(clock);
    backlog = 0;
    clock += 60_000;
    await new Promise((r) => setTimeout(r, 80));
    stop();
    w = (await readWatermarks(redis, { REDIS_PREFIX: prefix }))[0]!;
    expect(w.flushedThrough.getTime()).toBe(clock - 30_000 - 5_000);
  });
});

describe('void, regenerate, tax and credit balance', () => {
  it('void needs a reason and an unpaid finalized invoice; the period can then be regenerated', async () => {
    const t = await tenant();
    const id = await draftFor(t);
    await expect(voidInvoice(deps, { invoiceId: id, reason: 'x', actor: testActor })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/only a finalized/) });
    await finalizeInvoice(deps, { invoiceId: id, actor: testActor });
    await expect(voidInvoice(deps, { invoiceId: id, reason: '  ', actor: testActor })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    const v = await voidInvoice(deps, { invoiceId: id, reason: 'wrong plan', actor: testActor });
    expect(v).toMatchObject({ status: 'void', voidReason: 'wrong plan' });
    await expect(finalizeInvoice(deps, { invoiceId: id, actor: testActor })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/void/) });
    await expect(voidInvoice(deps, { invoiceId: id, reason: 'again', actor: testActor })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    const r = await regenerateInvoice(deps, { invoiceId: id, actor: testActor });
    expect(r).toMatchObject({ status: 'draft', regeneratedFrom: id, totalMicros: 50_000n });
    expect(r.id).not.toBe(id);
    await expect(regenerateInvoice(deps, { invoiceId: id, actor: testActor })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });

    const paid = await draftFor(await tenant());
    await finalizeInvoice(deps, { invoiceId: paid, actor: testActor });
    await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE invoices SET payment_status = 'paid', paid_at = now() WHERE id = $1`, [paid]));
    await expect(voidInvoice(deps, { invoiceId: paid, reason: 'late', actor: testActor })).rejects.toMatchObject({ message: expect.stringMatching(/paid/) });
  });

  it('tax applies once on the subtotal; the credit balance pays after tax and comes back on void', async () => {
    const t = await tenant();
    await setBillingSettings(deps, { tenantId: t, taxRate: '0.19', actor: testActor });
    // A credit of 3 cents from an earlier invoice's credit note.
    const first = await draftFor(t, '2026-09', 1500);
    await finalizeInvoice(deps, { invoiceId: first, actor: testActor });
    await withPlatform(factoryDeps().pools.app, async (c) => {
      const n = await c.query(`INSERT INTO credit_notes (invoice_id, tenant_id, number, amount_micros, reason) VALUES ($1, $2, $3, 30000, 'goodwill') RETURNING id`, [first, t, `CN-${uniqueName('x')}`]);
      await c.query(`INSERT INTO credit_balance_entries (tenant_id, amount_micros, currency, credit_note_id) VALUES ($1, 30000, 'USD', $2)`, [t, n.rows[0].id]);
    });
    const second = await draftFor(t, '2026-10', 1200);
    const inv = await finalizeInvoice(deps, { invoiceId: second, actor: testActor });
    // 200 x 100 = 2 cents; 19 % = 0.38 cents -> 0; total 2 cents, all paid by the credit.
    expect(inv).toMatchObject({ subtotalMicros: 20_000n, taxMicros: 0n, totalMicros: 20_000n, creditAppliedMicros: 20_000n, amountDueMicros: 0n });
    const firstInv = (await getInvoiceForPlatform(deps, { id: first }))!;
    expect(firstInv).toMatchObject({ subtotalMicros: 50_000n, taxMicros: 10_000n, totalMicros: 60_000n, taxRate: '0.19' });
    await voidInvoice(deps, { invoiceId: second, reason: 'test', actor: testActor });
    const bal = await withPlatform(factoryDeps().pools.app, (c) => c.query(`SELECT sum(amount_micros)::text AS b FROM credit_balance_entries WHERE tenant_id = $1`, [t]));
    expect(bal.rows[0].b).toBe('30000');
  });
});

describe('late usage', () => {
  it('usage arriving for a finalized period is billed once, on the next invoice, as an adjustment naming the period', async () => {
    const t = await tenant();
    const sep = await draftFor(t, '2026-09', 1500);
    await finalizeInvoice(deps, { invoiceId: sep, actor: testActor });
    // A replica's disk replayed days later: 300 more requests of September.
    await insertEvents(ch, spread(t, SEP + 3_600_000, SEP + 7_200_000, 300));
    const oct = await draftFor(t, '2026-10', 1100);
    const octInv = (await getInvoiceForPlatform(deps, { id: oct }))!;
    // One adjustment per meter with late usage (items and compute at amount 0: this plan prices requests only).
    const adj = octInv.lines.filter((l) => l.kind === 'adjustment' && l.meter === 'requests');
    expect(octInv.lines.filter((l) => l.kind === 'adjustment').map((l) => [l.meter, l.quantity, l.amountMicros])).toEqual([
      ['requests', '300', 30_000n],
      ['items', '300', 0n],
      ['compute_ms_cpu', '600', 0n],
    ]);
    // Marginal: September re-priced with 1,800 requests (80,000) minus the 50,000 billed.
    expect(adj[0]).toMatchObject({ meter: 'requests', quantity: '300', amountMicros: 30_000n });
    expect(adj[0]!.adjustsPeriodStart!.getTime()).toBe(SEP);
    expect(octInv.lines.find((l) => l.kind === 'usage')).toMatchObject({ quantity: '1100', amountMicros: 10_000n });
    // Finalizing refreshes the draft: still one adjustment, not two.
    const fin = await finalizeInvoice(deps, { invoiceId: oct, actor: testActor });
    expect(fin.lines.filter((l) => l.kind === 'adjustment')).toHaveLength(3);
    expect(fin.totalMicros).toBe(40_000n);
    // November: September is fully billed now, nothing more.
    const nov = await closeMonth(deps, { month: '2026-11', tenantId: t });
    expect(nov.invoices[0]?.lines.filter((l) => l.kind === 'adjustment') ?? []).toEqual([]);
  });
});

describe('the worker scan', () => {
  it('refreshes a draft inside its grace window and finalizes it after, resuming a killed generation first', async () => {
    const t = await tenant();
    await insertEvents(ch, spread(t, SEP, OCT, 1500));
    // A killed worker's leftover for September.
    await withPlatform(factoryDeps().pools.app, (c) =>
      c.query(`INSERT INTO invoices (tenant_id, period_start, period_end, status) VALUES ($1, $2, $3, 'generating')`, [t, new Date(SEP), new Date(OCT)]),
    );
    const early = await runBillingScan(deps, { now: new Date(OCT + 3_600_000), tenantId: t });
    expect(early).toMatchObject({ generated: 1, finalized: 0, refreshed: 1, failed: [] });
    const invs = await withPlatform(factoryDeps().pools.app, (c) => c.query(`SELECT id, status FROM invoices WHERE tenant_id = $1`, [t]));
    expect(invs.rows.map((r) => r.status)).toEqual(['draft']);
    // Late usage within the grace window lands in the draft.
    await insertEvents(ch, spread(t, SEP + 60_000, SEP + 120_000, 100));
    const late = await runBillingScan(deps, { now: new Date(OCT + 25 * 3_600_000), tenantId: t });
    expect(late).toMatchObject({ finalized: 1, failed: [] });
    const inv = (await getInvoiceForPlatform(deps, { id: invs.rows[0].id }))!;
    expect(inv).toMatchObject({ status: 'finalized', totalMicros: 60_000n });
    expect(inv.number).toMatch(new RegExp(`^${PREFIX}-\\d{4}-\\d{6}$`));
  });
});
