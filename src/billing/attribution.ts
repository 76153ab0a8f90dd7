/**
 * Cost attribution: price each meter on the TOTAL quantity of the window (so tiers apply as
 * they would on the invoice), then split each meter's charge across slices in proportion to
 * each slice's usage of that meter. Slices therefore add up exactly to the total.
 */
import { allocateLargestRemainder } from './allocate.js';
import { chargeMicros, type PriceComponent } from './pricing.js';

export interface UsageSlice {
  key: string;
  /** Quantity per meter, in the meter's billing unit (e.g. requests, items, compute ms). */
  quantities: Readonly<Record<string, bigint>>;
  /** Optional finer weights per meter for allocation (e.g. compute µs for a compute-ms meter). */
  weights?: Readonly<Record<string, bigint>>;
}

export interface MeterCost {
  meter: string;
  componentId: string;
  quantity: bigint;
  costMicros: bigint;
}

export interface AttributedSlice {
  key: string;
  costMicros: bigint;
  meters: MeterCost[];
}

export interface Attribution {
  totalMicros: bigint;
  meters: MeterCost[];
  slices: AttributedSlice[];
}

/**
 * `totals` (optional) gives the quantity to price per meter when it is not simply the sum of the
 * slices' quantities — e.g. compute-ms, where the total is floor(Σ µs / 1000) and each slice's
 * floored ms would under-count.
 */
export function attributeCost(input: { components: readonly PriceComponent[]; slices: readonly UsageSlice[]; totals?: Readonly<Record<string, bigint>> }): Attribution {
  const { components, slices } = input;
  const sliceMeters: MeterCost[][] = slices.map(() => []);
  const meters: MeterCost[] = [];
  for (const component of components) {
    const quantities = slices.map((s) => s.quantities[component.meter] ?? 0n);
    const quantity = input.totals?.[component.meter] ?? quantities.reduce((a, b) => a + b, 0n);
    const costMicros = chargeMicros(component, quantity);
    meters.push({ meter: component.meter, componentId: component.id, quantity, costMicros });
    if (slices.length === 0) continue;
    const weights = slices.map((s, i) => s.weights?.[component.meter] ?? quantities[i]!);
    const parts = allocateLargestRemainder(costMicros, weights);
    slices.forEach((s, i) => {
      sliceMeters[i]!.push({ meter: component.meter, componentId: component.id, quantity: quantities[i]!, costMicros: parts[i]! });
    });
  }
  const attributed = slices.map((s, i) => ({
    key: s.key,
    meters: sliceMeters[i]!,
    costMicros: sliceMeters[i]!.reduce((a, m) => a + m.costMicros, 0n),
  }));
  return { totalMicros: meters.reduce((a, m) => a + m.costMicros, 0n), meters, slices: attributed };
}

/**
 * A non-negative decimal rate (e.g. micros per compute-ms "0.012") kept exact as a fraction.
 * Amount = floor(quantity × rate), computed in bigint.
 */
export interface DecimalRate {
  numerator: bigint;
  denominator: bigint;
}

export function parseDecimalRate(text: string): DecimalRate {
  const m = /^(\d+)(?:\.(\d{1,12}))?$/.exec(text.trim());
  if (!m) throw new RangeError(`not a non-negative decimal: ${JSON.stringify(text)}`);
  const frac = m[2] ?? '';
  return { numerator: BigInt(m[1]! + frac), denominator: 10n ** BigInt(frac.length) };
}

/** floor(quantity × rate / divisor): e.g. compute µs × (micros per ms) / 1000. */
export function applyRate(quantity: bigint, rate: DecimalRate, divisor = 1n): bigint {
  return (quantity * rate.numerator) / (rate.denominator * divisor);
}
