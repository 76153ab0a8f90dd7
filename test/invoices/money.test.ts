/** Money rules of invoices (pure): minor units per ISO 4217 exponent, half-up rounding per line, tax once per invoice. */
import { describe, expect, it } from 'vitest';
import { currencyExponent, invoiceTotals, microsPerMinorUnit, roundLineMicros, taxMicros } from '../../src/invoices/index.js';
import { buildSegments, emptySliceUsage, priceRange, toScaledMicros, type PriceComponent } from '../../src/billing/index.js';

describe('money', () => {
  it('minor units follow the ISO 4217 exponent', () => {
    expect([currencyExponent('USD'), currencyExponent('JPY'), currencyExponent('KWD'), currencyExponent('EUR')]).toEqual([2, 0, 3, 2]);
    expect([microsPerMinorUnit('USD'), microsPerMinorUnit('JPY'), microsPerMinorUnit('KWD')]).toEqual([10_000n, 1_000_000n, 1_000n]);
  });

  it('lines round half-up (away from zero) to the minor unit', () => {
    expect(roundLineMicros(4_999n, 'USD')).toBe(0n);
    expect(roundLineMicros(5_000n, 'USD')).toBe(10_000n);
    expect(roundLineMicros(1_234_567n, 'USD')).toBe(1_230_000n);
    expect(roundLineMicros(-5_000n, 'USD')).toBe(-10_000n);
    expect(roundLineMicros(1_500_000n, 'JPY')).toBe(2_000_000n);
    expect(roundLineMicros(1_499n, 'KWD')).toBe(1_000n);
  });

  it('subtotal = sum of rounded lines; exclusive tax on the subtotal, rounded once', () => {
    const lines = [5_000n, 5_000n, 5_000n].map((l) => roundLineMicros(l, 'USD'));
    // Each 0.5 cent line rounds up: 3 cents, not round(1.5 cents).
    expect(invoiceTotals(lines, '0', 'USD')).toEqual({ subtotalMicros: 30_000n, taxMicros: 0n, totalMicros: 30_000n });
    // 19 % of 3 cents = 0.57 cents -> 1 cent.
    expect(invoiceTotals(lines, '0.19', 'USD')).toEqual({ subtotalMicros: 30_000n, taxMicros: 10_000n, totalMicros: 40_000n });
    expect(taxMicros(1_000_000n, '0.075', 'USD')).toBe(80_000n); // 7.5 cents -> 8
    expect(taxMicros(1_000_000n, '0.074999', 'USD')).toBe(70_000n);
  });
});

describe('segments', () => {
  const comp = (id: string, meter: string, unit: string, included = 0n): PriceComponent => ({ id, meter, model: 'standard', unitPrice: toScaledMicros(unit), tiers: [], packageSize: 1n, includedQuantity: included });
  const day = 86_400_000;
  const from = new Date(Date.UTC(2026, 0, 1));
  const to = new Date(from.getTime() + 10 * day);

  it('a price change of one meter does not cut another meter’s run (its included quantity stays whole)', () => {
    const components = new Map([
      [
        'p',
        [
          { planId: 'p', kind: 'usage' as const, from: 0, to: null, component: comp('req', 'requests', '10', 100n), currency: 'USD' },
          { planId: 'p', kind: 'usage' as const, from: 0, to: from.getTime() + 4 * day, component: comp('it1', 'items', '1'), currency: 'USD' },
          { planId: 'p', kind: 'usage' as const, from: from.getTime() + 4 * day, to: null, component: comp('it2', 'items', '2'), currency: 'USD' },
        ],
      ],
    ]);
    const segs = buildSegments(from, to, [{ planId: 'p', from: 0, to: null, currency: 'USD' }], components);
    expect(segs).toHaveLength(2);
    const usage = (n: bigint) => new Map([['', { ...emptySliceUsage(), units: { ...emptySliceUsage().units, requests: n, items: n } }]]);
    const r = priceRange({ periodStart: from, periodEnd: to, segments: [{ segment: segs[0]!, slices: usage(60n) }, { segment: segs[1]!, slices: usage(90n) }] });
    const m = Object.fromEntries(r.meters.map((x) => [x.meter, x]));
    // requests: one run of 150 with all 100 included -> 50 x 10.
    expect(m.requests!.costMicros).toBe(500n);
    expect(m.requests!.runs).toHaveLength(1);
    // items: two runs, each at its own price: 60 x 1 + 90 x 2.
    expect(m.items!.costMicros).toBe(240n);
  });

  it('a gap in the plan history prices nothing; the first plan also prices the stretch before it', () => {
    const spans = [
      { planId: 'a', from: from.getTime() + day, to: from.getTime() + 3 * day, currency: 'USD' },
      { planId: 'b', from: from.getTime() + 5 * day, to: null, currency: 'USD' },
    ];
    const segs = buildSegments(from, to, spans, new Map());
    expect(segs.map((s) => [s.planId, (s.from.getTime() - from.getTime()) / day, (s.to.getTime() - from.getTime()) / day])).toEqual([
      ['a', 0, 3],
      [null, 3, 5],
      ['b', 5, 10],
    ]);
  });
});
