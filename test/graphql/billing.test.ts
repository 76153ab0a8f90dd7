import { describe, expect, it } from 'vitest';
import {
  allocateLargestRemainder,
  applyRate,
  attributeCost,
  chargeMicros,
  parseDecimalRate,
  parseTiers,
  priceComponentFromRow,
  toScaledMicros,
  type PriceComponent,
} from '../../src/billing/index.js';

function component(over: Partial<PriceComponent> & { unitPriceMicros?: bigint }): PriceComponent {
  const { unitPriceMicros, ...rest } = over;
  return { id: 'c', meter: 'requests', model: 'standard', unitPrice: toScaledMicros(unitPriceMicros ?? 0n), tiers: [], packageSize: 1n, includedQuantity: 0n, ...rest };
}

// Tiers: 1..100 at 10, 101..1000 at 5 (+ flat 1000), above at 2.
const tiers = parseTiers([
  { up_to: 100, unit_price_micros: 10 },
  { up_to: 1000, unit_price_micros: 5, flat_fee_micros: 1000 },
  { up_to: null, unit_price_micros: 2 },
]);

describe('charge models', () => {
  it('standard: billable units above the included quantity times the unit price', () => {
    const c = component({ model: 'standard', unitPriceMicros: 250n, includedQuantity: 10n });
    expect(chargeMicros(c, 0n)).toBe(0n);
    expect(chargeMicros(c, 10n)).toBe(0n);
    expect(chargeMicros(c, 11n)).toBe(250n);
    expect(chargeMicros(c, 1010n)).toBe(250_000n);
  });

  it('graduated: each unit at its own tier, flat fee once a tier is entered', () => {
    const c = component({ model: 'graduated', tiers });
    expect(chargeMicros(c, 0n)).toBe(0n);
    expect(chargeMicros(c, 50n)).toBe(500n);
    expect(chargeMicros(c, 100n)).toBe(1000n);
    expect(chargeMicros(c, 101n)).toBe(1000n + 5n + 1000n);
    expect(chargeMicros(c, 1000n)).toBe(1000n + 900n * 5n + 1000n);
    expect(chargeMicros(c, 1500n)).toBe(1000n + 4500n + 1000n + 500n * 2n);
  });

  it('graduated with included quantity prices only the excess, starting at tier one', () => {
    const c = component({ model: 'graduated', tiers, includedQuantity: 1000n });
    expect(chargeMicros(c, 1050n)).toBe(500n);
  });

  it('graduated: units beyond a bounded last tier use its price', () => {
    const c = component({ model: 'graduated', tiers: parseTiers([{ upTo: 10, unitPriceMicros: 3 }]) });
    expect(chargeMicros(c, 15n)).toBe(45n);
  });

  it('volume: all units at the tier the total lands in', () => {
    const c = component({ model: 'volume', tiers });
    expect(chargeMicros(c, 100n)).toBe(1000n);
    expect(chargeMicros(c, 101n)).toBe(101n * 5n + 1000n);
    expect(chargeMicros(c, 1000n)).toBe(5000n + 1000n);
    expect(chargeMicros(c, 1001n)).toBe(2002n);
  });

  it('package: whole packages, rounded up', () => {
    const c = component({ model: 'package', unitPriceMicros: 1_000_000n, packageSize: 1000n, includedQuantity: 100n });
    expect(chargeMicros(c, 100n)).toBe(0n);
    expect(chargeMicros(c, 101n)).toBe(1_000_000n);
    expect(chargeMicros(c, 1100n)).toBe(1_000_000n);
    expect(chargeMicros(c, 1101n)).toBe(2_000_000n);
  });

  it('fractional unit prices (NUMERIC micros) are exact and rounded half-up once per charge', () => {
    const c = priceComponentFromRow({ id: 'f', meter: 'compute_ms_cpu', model: 'standard', unit_price_micros: '0.125000', tiers: null, package_size: null, included_quantity: '0' });
    expect(chargeMicros(c, 3n)).toBe(0n); // 0.375 -> 0
    expect(chargeMicros(c, 4n)).toBe(1n); // 0.5 -> 1 (half-up)
    expect(chargeMicros(c, 1000n)).toBe(125n);
    const g = priceComponentFromRow({ id: 'g', meter: 'items', model: 'graduated', unit_price_micros: null, tiers: [{ up_to: 2, unit_price_micros: '0.4' }, { up_to: null, unit_price_micros: '0.1', flat_fee_micros: '0.3' }], package_size: null, included_quantity: '1' });
    // 4 units, 1 included -> 3 billable: 2 × 0.4 + 1 × 0.1 + 0.3 = 1.2 -> 1
    expect(chargeMicros(g, 4n)).toBe(1n);
    expect(() => toScaledMicros('0.0000001')).toThrow();
    expect(() => toScaledMicros('-1')).toThrow();
  });

  it('rejects malformed tiers', () => {
    expect(() => parseTiers([{ upTo: null, unitPriceMicros: 1 }, { upTo: 5, unitPriceMicros: 1 }])).toThrow();
    expect(() => parseTiers([{ upTo: 10, unitPriceMicros: 1 }, { upTo: 5, unitPriceMicros: 1 }])).toThrow();
    expect(() => parseTiers([{ upTo: 10, unitPriceMicros: -1 }])).toThrow();
  });

  it('stays exact beyond 2^53', () => {
    const c = component({ unitPriceMicros: 3_000_000n });
    expect(chargeMicros(c, 9_007_199_254_740_993n)).toBe(27_021_597_764_222_979_000_000n);
  });
});

describe('largest-remainder allocation', () => {
  it('sums exactly to the total and is proportional', () => {
    expect(allocateLargestRemainder(100n, [1n, 1n, 1n])).toEqual([34n, 33n, 33n]);
    expect(allocateLargestRemainder(10n, [1n, 2n, 7n])).toEqual([1n, 2n, 7n]);
    expect(allocateLargestRemainder(7n, [0n, 5n, 5n])).toEqual([0n, 4n, 3n]);
    expect(allocateLargestRemainder(-5n, [1n, 1n])).toEqual([-3n, -2n]);
    expect(allocateLargestRemainder(5n, [0n, 0n])).toEqual([3n, 2n]);
  });

  it('random cases: parts sum to total and each part is within 1 of its exact share', () => {
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let k = 0; k < 200; k++) {
      const weights = Array.from({ length: 1 + rnd(20) }, () => BigInt(rnd(1000)));
      const total = BigInt(rnd(1_000_000));
      const parts = allocateLargestRemainder(total, weights);
      expect(parts.reduce((a, b) => a + b, 0n)).toBe(total);
      const sum = weights.reduce((a, b) => a + b, 0n);
      if (sum === 0n) continue;
      parts.forEach((p, i) => {
        const exactTimesSum = total * weights[i]!;
        expect(p * sum <= exactTimesSum + sum && p * sum >= exactTimesSum - sum).toBe(true);
      });
    }
  });
});

describe('attributeCost', () => {
  it('prices tiers on the total and allocates each meter by usage', () => {
    const components = [
      component({ id: 'g', meter: 'requests', model: 'graduated', tiers }),
      component({ id: 'p', meter: 'items', model: 'package', unitPriceMicros: 7n, packageSize: 10n }),
    ];
    const slices = [
      { key: 'a', quantities: { requests: 60n, items: 5n } },
      { key: 'b', quantities: { requests: 90n, items: 0n } },
      { key: 'c', quantities: { requests: 0n, items: 16n } },
    ];
    const r = attributeCost({ components, slices });
    // requests total 150: 100×10 + 50×5 + 1000 = 2250 ; items 21 -> 3 packages × 7 = 21
    expect(r.meters.map((m) => [m.meter, m.quantity, m.costMicros])).toEqual([
      ['requests', 150n, 2250n],
      ['items', 21n, 21n],
    ]);
    expect(r.totalMicros).toBe(2271n);
    // requests split 60:90 of 2250 = 900 / 1350 ; items split 5:0:16 of 21 = 5 / 0 / 16
    expect(r.slices.map((s) => [s.key, s.costMicros])).toEqual([
      ['a', 905n],
      ['b', 1350n],
      ['c', 16n],
    ]);
    expect(r.slices.reduce((a, s) => a + s.costMicros, 0n)).toBe(r.totalMicros);
  });

  it('uses finer weights when given', () => {
    const r = attributeCost({
      components: [component({ meter: 'compute_ms', unitPriceMicros: 1n })],
      slices: [
        { key: 'x', quantities: { compute_ms: 1n }, weights: { compute_ms: 1_500n } },
        { key: 'y', quantities: { compute_ms: 1n }, weights: { compute_ms: 1_500n } },
      ],
    });
    expect(r.totalMicros).toBe(2n);
    expect(r.slices.map((s) => s.costMicros)).toEqual([1n, 1n]);
  });
});

describe('decimal rates', () => {
  it('applies fractional micros rates exactly with floor', () => {
    const rate = parseDecimalRate('0.012');
    expect(applyRate(1_000_000n, rate)).toBe(12_000n);
    expect(applyRate(2_500_000n, rate, 1000n)).toBe(30n); // 2.5M µs = 2500 ms × 0.012
    expect(() => parseDecimalRate('-1')).toThrow();
    expect(() => parseDecimalRate('1e3')).toThrow();
  });
});
