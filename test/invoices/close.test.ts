/**
 * Period close against real Postgres and ClickHouse: a plan change in the middle of a period
 * (at a millisecond, not on the hour) splits it into segments priced by the plan in force;
 * invoice lines equal costAttribution of the period to the micro; re-running close, concurrent
 * generation and a resumed `generating` row all leave exactly one invoice; the CLI prints the
 * issue's JSON shapes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costAttribution } from '../../src/billing/index.js';
import { createClickHouse, type ClickHouse } from '../../src/clickhouse/index.js';
import { withPlatform } from '../../src/db/index.js';
import { closeMonth, generateInvoice, getInvoiceForPlatform, periodStartingIn, roundLineMicros } from '../../src/invoices/index.js';
import { setTenantPlan } from '../../src/tenants/index.js';
import { runCli } from '../../app/cli/program.js';
import { closeFactories, createTenant, factoryDeps, testActor, uniqueName } from '../factories.js';
import { insertEvents, type EventSpec } from '../graphql/data.js';

let ch: ClickHouse;
const deps = () => ({ pools: factoryDeps().pools, clickhouse: ch });

const PERIOD_START = Date.parse('2026-09-01T00:00:00Z');
const PERIOD_END = Date.parse('2026-10-01T00:00:00Z');
const PERIOD_MS = BigInt(PERIOD_END - PERIOD_START);
// Plan change at a millisecond inside an hour: the head and tail hours are read from raw events.
const CHANGE = Date.parse('2026-09-10T12:34:56.789Z');

let planA = '';
let planB = '';

async function makePlan(code: string, components: Array<[string | null, string, string | null, unknown, number | null, number, string?]>): Promise<string> {
  return withPlatform(factoryDeps().pools.app, async (c) => {
    const { rows } = await c.query(`INSERT INTO plans (code, name, priority_tier, rate_limit_rps, burst, max_concurrency) VALUES ($1, $1, 2, 10, 10, 2) RETURNING id, code`, [code]);
    for (const [meter, model, unit, tiers, pkg, included, kind] of components) {
      await c.query(
        `INSERT INTO price_components (plan_id, kind, meter, model, unit_price_micros, tiers, package_size, included_quantity, effective_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '2020-01-01T00:00:00Z')`,
        [rows[0].id, kind ?? 'usage', meter, model, unit, tiers === null ? null : JSON.stringify(tiers), pkg, included],
      );
    }
    return rows[0].code as string;
  });
}

/** A tenant on plan A from before the period, switched to plan B at CHANGE. */
async function tenantWithChange(timezone = 'UTC'): Promise<string> {
  const t = await createTenant({ plan: planA, timezone });
  await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2026-08-01T00:00:00Z' WHERE tenant_id = $1`, [t.id]));
  // Backdated history: no running admission to tell.
  await setTenantPlan({ pools: factoryDeps().pools, announceLimits: async () => {} }, { tenantId: t.id, plan: planB, actor: testActor, at: new Date(CHANGE) });
  return t.id;
}

function spread(tenantId: string, from: number, to: number, n: number, extra: Partial<EventSpec> = {}): EventSpec[] {
  const step = Math.floor((to - from) / n);
  return Array.from({ length: n }, (_, i) => ({ tenantId, ts: new Date(from + i * step), items: 1, computeUs: 2000, ...extra }));
}

beforeAll(async () => {
  ch = createClickHouse(factoryDeps().config);
  // Plan A: requests 100 µ$ each above 1,000 included (prorated); items graduated (first 100 free, then 3); cpu 1 µ$/ms.
  planA = await makePlan(uniqueName('inva').slice(0, 40), [
    ['requests', 'standard', '100', null, null, 1000],
    ['items', 'graduated', null, [{ up_to: 100, unit_price_micros: 0 }, { up_to: null, unit_price_micros: 3 }], null, 0],
    ['compute_ms_cpu', 'standard', '1', null, null, 0],
  ]);
  // Plan B: requests 50 µ$ above 2,000 included (prorated); no item price; cpu 0.5 µ$/ms; a $10 monthly base fee.
  planB = await makePlan(uniqueName('invb').slice(0, 40), [
    ['requests', 'standard', '50', null, null, 2000],
    ['compute_ms_cpu', 'standard', '0.5', null, null, 0],
    [null, 'standard', '10000000', null, null, 0, 'base_fee'],
  ]);
});
afterAll(async () => {
  await ch?.close();
  await closeFactories();
});

describe('period close with a plan change inside the period', () => {
  let tenantId = '';
  const nA = 1500;
  const nB = 2600;

  beforeAll(async () => {
    tenantId = await tenantWithChange();
    await insertEvents(ch, [
      ...spread(tenantId, PERIOD_START, CHANGE - 1000, nA - 1),
      // 289 ms before the change, in the same second: plan A (decided by ts_ms, not the second).
      { tenantId, ts: new Date(CHANGE - 289), items: 1, computeUs: 2000 },
      // Exactly at the change: plan B.
      { tenantId, ts: new Date(CHANGE), items: 1, computeUs: 2000 },
      ...spread(tenantId, CHANGE + 1000, PERIOD_END, nB - 1),
      // Not billable: failed requests; outside the period: before and after.
      ...spread(tenantId, PERIOD_START, PERIOD_END, 7, { status: 'error', computeUs: 0 }),
      { tenantId, ts: new Date(PERIOD_START - 1), items: 1 },
      { tenantId, ts: new Date(PERIOD_END), items: 1 },
    ]);
  });

  function expected() {
    const msA = BigInt(CHANGE - PERIOD_START);
    const msB = BigInt(PERIOD_END - CHANGE);
    const incA = (1000n * msA) / PERIOD_MS;
    const incB = (2000n * msB) / PERIOD_MS;
    const A = BigInt(nA);
    const B = BigInt(nB);
    const requests = (A > incA ? (A - incA) * 100n : 0n) + (B > incB ? (B - incB) * 50n : 0n);
    const items = (A - 100n) * 3n; // plan B has no item price
    const cpu = A * 2n + (B * 2n + 1n) / 2n; // A: 2 ms each at 1; B: 2B ms at 0.5 (half-up once)
    const baseFee = (10_000_000n * 1_000_000n * msB / PERIOD_MS + 500_000n) / 1_000_000n;
    return { requests, items, cpu, baseFee, incA, incB };
  }

  it('costAttribution of the period prices each segment with the plan in force', async () => {
    const r = await costAttribution(deps(), { tenantId, from: new Date(PERIOD_START), to: new Date(PERIOD_END), groupBy: 'MODEL' });
    const e = expected();
    const byMeter = Object.fromEntries(r.meters.map((m) => [m.meter, m]));
    expect(byMeter.requests!.quantity).toBe(BigInt(nA + nB));
    expect(byMeter.requests!.includedQuantity).toBe(e.incA + e.incB);
    expect(byMeter.requests!.costMicros).toBe(e.requests);
    expect(byMeter.items!.costMicros).toBe(e.items);
    expect(byMeter.compute_ms_cpu!.quantity).toBe(BigInt(2 * (nA + nB)));
    expect(byMeter.compute_ms_cpu!.costMicros).toBe(e.cpu);
    expect(r.totalMicros).toBe(e.requests + e.items + e.cpu);
    expect(r.baseFeeMicros).toBe(e.baseFee);
    expect(r.segments.map((s) => s.from.getTime())).toEqual([PERIOD_START, CHANGE]);
    // Slices still add up to the total.
    expect(r.slices.reduce((a, s) => a + s.costMicros, 0n)).toBe(r.totalMicros);
  });

  it('billing close makes one draft whose usage lines equal costAttribution to the micro, and re-running it makes no second one', async () => {
    const month = '2026-09';
    const first = await closeMonth(deps(), { month, tenantId });
    expect(first.created).toBe(1);
    expect(first.invoices).toHaveLength(1);
    const inv = first.invoices[0]!;
    expect(inv).toMatchObject({ tenantId, status: 'draft', paymentStatus: 'pending', number: null, currency: 'USD' });
    expect(inv.periodStart.getTime()).toBe(PERIOD_START);
    expect(inv.periodEnd.getTime()).toBe(PERIOD_END);
    const cost = await costAttribution(deps(), { tenantId, from: new Date(PERIOD_START), to: new Date(PERIOD_END), groupBy: 'NONE' });
    const usage = inv.lines.filter((l) => l.kind === 'usage');
    expect(usage.map((l) => [l.meter, l.quantity, l.amountMicros])).toEqual(
      cost.meters.filter((m) => m.quantity > 0n).map((m) => [m.meter, m.quantity.toString(), m.costMicros]),
    );
    const e = expected();
    const fee = inv.lines.find((l) => l.kind === 'base_fee')!;
    expect(fee.amountMicros).toBe(e.baseFee);
    const req = usage.find((l) => l.meter === 'requests')!;
    expect(req.includedQuantity).toBe(String(e.incA + e.incB));
    // Money: each line rounded half-up to the cent; subtotal = sum of rounded lines; no tax set.
    expect(inv.subtotalMicros).toBe(inv.lines.reduce((a, l) => a + roundLineMicros(l.amountMicros, 'USD'), 0n));
    expect(inv.totalMicros).toBe(inv.subtotalMicros);
    expect(inv.subtotalMicros % 10_000n).toBe(0n);

    const again = await closeMonth(deps(), { month, tenantId });
    expect(again.created).toBe(0);
    expect(again.invoices.map((i) => i.id)).toEqual([inv.id]);
    expect(again.invoices[0]!.lines).toEqual(inv.lines);
    const { rows } = await withPlatform(factoryDeps().pools.app, (c) => c.query('SELECT count(*)::int AS n FROM invoices WHERE tenant_id = $1', [tenantId]));
    expect(rows[0].n).toBe(1);
  });

  it('a period that has not ended is refused for a tenant, and nothing is written', async () => {
    const now = new Date();
    const month = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
    await expect(closeMonth(deps(), { month, tenantId })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/has not ended/) });
    const { rows } = await withPlatform(factoryDeps().pools.app, (c) => c.query('SELECT count(*)::int AS n FROM invoices WHERE tenant_id = $1', [tenantId]));
    expect(rows[0].n).toBe(1);
  });
});

describe('idempotency per (tenant, period)', () => {
  it('concurrent generation yields one invoice with one set of lines', async () => {
    const t = await createTenant({ plan: planA });
    await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2026-08-01T00:00:00Z' WHERE tenant_id = $1`, [t.id]));
    await insertEvents(ch, spread(t.id, PERIOD_START, PERIOD_END, 1200));
    const period = { start: new Date(PERIOD_START), end: new Date(PERIOD_END) };
    const results = await Promise.all([1, 2, 3, 4].map(() => generateInvoice(deps(), { tenantId: t.id, period })));
    const ids = new Set(results.map((r) => r.invoice!.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
    const inv = (await getInvoiceForPlatform(deps(), { id: [...ids][0]! }))!;
    expect(inv.status).toBe('draft');
    expect(inv.lines.map((l) => l.meter)).toEqual(['requests', 'items', 'compute_ms_cpu']);
    // 1,200 requests, 1,000 included: 200 × 100.
    expect(inv.lines[0]!.amountMicros).toBe(20_000n);
  });

  it('a worker killed mid-generation leaves a `generating` row that the next close resumes (stale lines replaced)', async () => {
    const t = await createTenant({ plan: planA });
    await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2026-08-01T00:00:00Z' WHERE tenant_id = $1`, [t.id]));
    await insertEvents(ch, spread(t.id, PERIOD_START, PERIOD_END, 1100));
    // What a killed worker leaves: the claimed row and a partial line.
    await withPlatform(factoryDeps().pools.app, async (c) => {
      const { rows } = await c.query(`INSERT INTO invoices (tenant_id, period_start, period_end, status) VALUES ($1, $2, $3, 'generating') RETURNING id`, [t.id, new Date(PERIOD_START), new Date(PERIOD_END)]);
      await c.query(`INSERT INTO invoice_lines (invoice_id, tenant_id, line_no, meter, model, quantity, amount_micros) VALUES ($1, $2, 1, 'requests', 'standard', 5, 999)`, [rows[0].id, t.id]);
    });
    const r = await closeMonth(deps(), { month: '2026-09', tenantId: t.id });
    expect(r.invoices).toHaveLength(1);
    expect(r.invoices[0]!.status).toBe('draft');
    expect(r.invoices[0]!.lines.map((l) => [l.meter, l.quantity, l.amountMicros])).toEqual([
      ['requests', '1100', 10_000n],
      ['items', '1100', 3_000n],
      ['compute_ms_cpu', '2200', 2_200n],
    ]);
  });

  it('the unique index refuses a second live invoice for the period even from raw SQL', async () => {
    const t = await createTenant({ plan: planA });
    const insert = (c: { query: (s: string, v: unknown[]) => Promise<unknown> }) =>
      c.query(`INSERT INTO invoices (tenant_id, period_start, period_end, status) VALUES ($1, $2, $3, 'draft')`, [t.id, new Date(PERIOD_START), new Date(PERIOD_END)]);
    await withPlatform(factoryDeps().pools.app, insert);
    await expect(withPlatform(factoryDeps().pools.app, insert)).rejects.toMatchObject({ code: '23505' });
  });
});

describe('time zones', () => {
  it('a period starting at a half-hour UTC offset counts usage by the millisecond at both edges', async () => {
    const t = await createTenant({ plan: planA, timezone: 'Asia/Kolkata' });
    await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2026-08-01T00:00:00Z' WHERE tenant_id = $1`, [t.id]));
    const p = periodStartingIn({ timezone: 'Asia/Kolkata', anchorDay: 1 }, 2026, 9);
    expect(p.start.toISOString()).toBe('2026-08-31T18:30:00.000Z');
    expect(p.end.toISOString()).toBe('2026-09-30T18:30:00.000Z');
    await insertEvents(ch, [
      { tenantId: t.id, ts: new Date(p.start.getTime() - 1), items: 50 },
      { tenantId: t.id, ts: p.start, items: 7 },
      { tenantId: t.id, ts: new Date(p.end.getTime() - 1), items: 11 },
      { tenantId: t.id, ts: p.end, items: 50 },
    ]);
    const r = await closeMonth(deps(), { month: '2026-09', tenantId: t.id });
    const lines = Object.fromEntries(r.invoices[0]!.lines.map((l) => [l.meter, l.quantity]));
    expect(lines).toMatchObject({ requests: '2', items: '18' });
  });
});

describe('CLI', () => {
  async function cli(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['node', 'tollgate', ...args], { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join(''), err: err.join('') };
  }

  it('billing close --json and invoice show --json print exactly the issue\'s shapes', async () => {
    const t = await createTenant({ plan: planA });
    await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2026-08-01T00:00:00Z' WHERE tenant_id = $1`, [t.id]));
    await insertEvents(ch, spread(t.id, PERIOD_START, PERIOD_END, 1500));
    const close = await cli(['billing', 'close', '--period', '2026-09', '--tenant', t.id, '--json']);
    expect(close.code).toBe(0);
    const body = JSON.parse(close.out) as { invoices: Array<Record<string, unknown>> };
    expect(Object.keys(body)).toEqual(['invoices']);
    expect(body.invoices).toHaveLength(1);
    const inv = body.invoices[0]!;
    expect(Object.keys(inv).sort()).toEqual(['id', 'lines', 'number', 'status', 'tenantId', 'totalMicros']);
    // Lines carry exact micros; the total sums lines rounded to the cent: 50,000 + 0 (4,200) + 0 (3,000).
    expect(inv).toMatchObject({ tenantId: t.id, status: 'draft', number: null, totalMicros: '50000' });
    expect(inv.lines).toEqual([
      { meter: 'requests', quantity: '1500', amountMicros: '50000' },
      { meter: 'items', quantity: '1500', amountMicros: '4200' },
      { meter: 'compute_ms_cpu', quantity: '3000', amountMicros: '3000' },
    ]);
    const show = await cli(['invoice', 'show', String(inv.id), '--json']);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.out)).toEqual({ invoice: inv });
    // Again: the same invoice, nothing new.
    const again = await cli(['billing', 'close', '--period', '2026-09', '--tenant', t.id, '--json']);
    expect(JSON.parse(again.out)).toEqual(body);
    // billing finalize: numbered TG-YYYY-NNNNNN, same shape.
    const fin = await cli(['billing', 'finalize', '--invoice', String(inv.id), '--force', '--json']);
    expect(fin.code).toBe(0);
    const finalized = JSON.parse(fin.out) as { invoice: Record<string, unknown> };
    expect(Object.keys(finalized.invoice).sort()).toEqual(['id', 'lines', 'number', 'status', 'tenantId', 'totalMicros']);
    expect(finalized.invoice).toMatchObject({ id: inv.id, status: 'finalized', number: expect.stringMatching(/^TG-\d{4}-\d{6}$/), totalMicros: '50000' });
    const closedAgain = await cli(['billing', 'close', '--period', '2026-09', '--tenant', t.id, '--json']);
    expect(JSON.parse(closedAgain.out).invoices[0]).toEqual(finalized.invoice);
  });

  it('bad input is a clear error with exit code 1', async () => {
    const bad = await cli(['billing', 'close', '--period', '2026-13', '--json']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/YYYY-MM/);
    expect(bad.out).toBe('');
    const missing = await cli(['invoice', 'show', '00000000-0000-4000-8000-000000000000', '--json']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/not found/);
    const unknownTenant = await cli(['billing', 'close', '--period', '2026-09', '--tenant', '00000000-0000-4000-8000-000000000000']);
    expect(unknownTenant.code).toBe(1);
  });
});
