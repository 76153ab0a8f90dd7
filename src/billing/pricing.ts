/**
 * Charge models for usage-based prices, in integer micro-units of the currency (bigint, never floats).
 *
 * Semantics (as in Lago / Stripe):
 * - `standard`:  billable × unit price.
 * - `graduated`: each unit is priced by the tier it falls in; a tier's flat fee applies once any unit lands in it.
 * - `volume`:    every unit is priced at the tier the whole quantity falls in (plus that tier's flat fee).
 * - `package`:   ceil(billable / package size) × unit price (the price of one package).
 * `billable` is the quantity above the component's included (free) quantity. Zero billable units cost zero.
 * Tiers: `upTo` is the inclusive, cumulative upper bound; the last tier has `upTo: null` (unbounded).
 */
import { z } from 'zod';

export const chargeModels = ['standard', 'graduated', 'volume', 'package'] as const;
export type ChargeModel = (typeof chargeModels)[number];

export interface Tier {
  upTo: bigint | null;
  unitPriceMicros: bigint;
  flatFeeMicros: bigint;
}

export interface PriceComponent {
  id: string;
  meter: string;
  model: ChargeModel;
  unitPriceMicros: bigint;
  tiers: Tier[];
  packageSize: bigint;
  includedQuantity: bigint;
}

const intLike = z.union([z.bigint(), z.number().int().safe(), z.string().regex(/^-?\d+$/)]).transform((v) => BigInt(v));
const nonNegative = intLike.refine((v) => v >= 0n, 'must be >= 0');

const tierSchema = z
  .object({
    upTo: nonNegative.nullable().optional(),
    up_to: nonNegative.nullable().optional(),
    unitPriceMicros: nonNegative.optional(),
    unit_price_micros: nonNegative.optional(),
    flatFeeMicros: nonNegative.optional(),
    flat_fee_micros: nonNegative.optional(),
  })
  .transform((t) => ({
    upTo: t.upTo ?? t.up_to ?? null,
    unitPriceMicros: t.unitPriceMicros ?? t.unit_price_micros ?? 0n,
    flatFeeMicros: t.flatFeeMicros ?? t.flat_fee_micros ?? 0n,
  }));

/** Parses a tiers value as stored (jsonb, camelCase or snake_case keys) and checks the bounds ascend with one open end. */
export function parseTiers(raw: unknown): Tier[] {
  if (raw === null || raw === undefined) return [];
  const tiers = z.array(tierSchema).parse(typeof raw === 'string' ? JSON.parse(raw) : raw);
  let previous = 0n;
  tiers.forEach((t, i) => {
    const last = i === tiers.length - 1;
    if (t.upTo === null && !last) throw new Error('only the last tier may be unbounded');
    if (t.upTo !== null && t.upTo <= previous && i > 0) throw new Error('tier bounds must ascend');
    if (t.upTo !== null) previous = t.upTo;
  });
  return tiers;
}

function billable(component: Pick<PriceComponent, 'includedQuantity'>, quantity: bigint): bigint {
  const q = quantity - component.includedQuantity;
  return q > 0n ? q : 0n;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

function graduated(tiers: Tier[], quantity: bigint): bigint {
  let amount = 0n;
  let lower = 0n;
  for (const tier of tiers) {
    if (quantity <= lower) break;
    const upper = tier.upTo === null || tier.upTo > quantity ? quantity : tier.upTo;
    const units = upper - lower;
    if (units > 0n) amount += units * tier.unitPriceMicros + tier.flatFeeMicros;
    if (tier.upTo === null) break;
    lower = tier.upTo;
  }
  // Units above a last bounded tier are priced at the last tier's unit price.
  const lastTier = tiers[tiers.length - 1];
  if (lastTier && lastTier.upTo !== null && quantity > lastTier.upTo) amount += (quantity - lastTier.upTo) * lastTier.unitPriceMicros;
  return amount;
}

function volume(tiers: Tier[], quantity: bigint): bigint {
  const tier = tiers.find((t) => t.upTo === null || quantity <= t.upTo) ?? tiers[tiers.length - 1];
  return tier ? quantity * tier.unitPriceMicros + tier.flatFeeMicros : 0n;
}

/** What `quantity` units of the component's meter cost in one pricing window, in micros. */
export function chargeMicros(component: PriceComponent, quantity: bigint): bigint {
  if (quantity < 0n) throw new RangeError('quantity must be >= 0');
  const q = billable(component, quantity);
  if (q === 0n) return 0n;
  switch (component.model) {
    case 'standard':
      return q * component.unitPriceMicros;
    case 'graduated':
      return graduated(component.tiers, q);
    case 'volume':
      return volume(component.tiers, q);
    case 'package':
      if (component.packageSize <= 0n) throw new RangeError('package size must be > 0');
      return ceilDiv(q, component.packageSize) * component.unitPriceMicros;
  }
}
