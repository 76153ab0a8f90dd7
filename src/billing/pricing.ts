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
 *
 * Unit prices and flat fees may be fractional micros (Postgres NUMERIC(24,6)): they are held as
 * bigint "scaled micros" (micros × 10^6, exact). A component's charge is computed exactly in
 * scaled micros and rounded half-up to whole micros once, at the end.
 */
import { z } from 'zod';
import { parseJsonExact } from './exact-json.js';

export const chargeModels = ['standard', 'graduated', 'volume', 'package'] as const;
export type ChargeModel = (typeof chargeModels)[number];

/** 10^6: scaled micros per micro. */
export const PRICE_SCALE = 1_000_000n;

export interface Tier {
  upTo: bigint | null;
  /** Price per unit in scaled micros (micros × PRICE_SCALE). */
  unitPrice: bigint;
  /** Flat fee in scaled micros. */
  flatFee: bigint;
}

export interface PriceComponent {
  id: string;
  meter: string;
  model: ChargeModel;
  /** Scaled micros per unit (standard) or per package (package). */
  unitPrice: bigint;
  tiers: Tier[];
  packageSize: bigint;
  includedQuantity: bigint;
}

/**
 * A non-negative decimal amount of micros ("12", "0.5", 3, 7n, as NUMERIC arrives from pg) as
 * scaled micros. More than 6 decimal places is an error, not a silent rounding.
 */
export function toScaledMicros(value: string | number | bigint): bigint {
  if (typeof value === 'bigint') return value * PRICE_SCALE;
  const text = typeof value === 'number' ? numberText(value) : expandExponent(value.trim());
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new RangeError(`not a non-negative decimal amount: ${JSON.stringify(value)}`);
  const frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac.length > 6) throw new RangeError(`more than 6 decimal places: ${text}`);
  return BigInt(m[1]!) * PRICE_SCALE + BigInt(frac.padEnd(6, '0') || '0');
}

/**
 * A JS number's decimal text, exactly as the shortest round-trip form prints it (never toFixed,
 * which would silently round: 5e-7 stays "0.0000005" and is then refused for its 7 decimals).
 * Prefer strings: numbers read from jsonb should go through parseJsonExact instead.
 */
function numberText(n: number): string {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`not a non-negative finite number: ${n}`);
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) throw new RangeError(`${n} is beyond 2^53: pass a string`);
  return expandExponent(String(n));
}

/** "5e-7" -> "0.0000005", "1.5e+21" -> "1500000000000000000000"; plain decimals unchanged. */
export function expandExponent(text: string): string {
  const m = /^(\d+)(?:\.(\d+))?[eE]([+-]?\d+)$/.exec(text);
  if (!m) return text;
  const digits = m[1]! + (m[2] ?? '');
  const point = m[1]!.length + Number(m[3]);
  if (Math.abs(point) > 1000) throw new RangeError(`exponent out of range: ${text}`);
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Scaled micros as an exact decimal amount of micros without trailing zeros: 125000n -> "0.125", 3000000n -> "3". */
export function formatScaledMicros(scaled: bigint): string {
  const sign = scaled < 0n ? '-' : '';
  const abs = scaled < 0n ? -scaled : scaled;
  const frac = (abs % PRICE_SCALE).toString().padStart(6, '0').replace(/0+$/, '');
  return `${sign}${abs / PRICE_SCALE}${frac ? `.${frac}` : ''}`;
}

/** Scaled micros rounded half-up to whole micros. */
export function roundScaled(scaled: bigint): bigint {
  return (scaled + PRICE_SCALE / 2n) / PRICE_SCALE;
}

const intLike = z.union([z.bigint(), z.number().int().safe(), z.string().regex(/^-?\d+$/)]).transform((v) => BigInt(v));
const nonNegative = intLike.refine((v) => v >= 0n, 'must be >= 0');
const amount = z.union([z.bigint(), z.number(), z.string()]).transform((v, ctx) => {
  try {
    return toScaledMicros(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const tierSchema = z
  .object({
    upTo: nonNegative.nullable().optional(),
    up_to: nonNegative.nullable().optional(),
    unitPriceMicros: amount.optional(),
    unit_price_micros: amount.optional(),
    flatFeeMicros: amount.optional(),
    flat_fee_micros: amount.optional(),
  })
  .transform((t): Tier => ({
    upTo: t.upTo ?? t.up_to ?? null,
    unitPrice: t.unitPriceMicros ?? t.unit_price_micros ?? 0n,
    flatFee: t.flatFeeMicros ?? t.flat_fee_micros ?? 0n,
  }));

/**
 * Parses a tiers value as stored (jsonb text or parsed value, camelCase or snake_case keys): amounts
 * with more than 6 decimal places are refused (a ZodError naming them), never rounded. Also checks that
 * the bounds ascend with one open end.
 */
export function parseTiers(raw: unknown): Tier[] {
  if (raw === null || raw === undefined) return [];
  // A string is the jsonb text (`tiers::text`): parsed with numbers kept as exact decimal strings.
  const parsed = z.array(tierSchema).safeParse(typeof raw === 'string' ? parseJsonExact(raw) : raw);
  if (!parsed.success) throw new RangeError(`invalid tiers: ${parsed.error.issues.map((i) => `tiers.${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const tiers = parsed.data;
  let previous = 0n;
  tiers.forEach((t, i) => {
    const last = i === tiers.length - 1;
    if (t.upTo === null && !last) throw new Error('only the last tier may be unbounded');
    if (t.upTo !== null && t.upTo <= previous && i > 0) throw new Error('tier bounds must ascend');
    if (t.upTo !== null) previous = t.upTo;
  });
  return tiers;
}

/** One tier as the API and rows carry it: exact decimal strings of micros, bound as a safe integer. */
export interface TierRow {
  up_to: number | null;
  unit_price_micros: string;
  flat_fee_micros: string;
}

/** Tiers as exact decimal strings (for rendering / rows), from any form parseTiers accepts. */
export function tierRows(tiers: Tier[]): TierRow[] {
  return tiers.map((t) => {
    if (t.upTo !== null && t.upTo > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`tier bound ${t.upTo} is beyond 2^53`);
    return { up_to: t.upTo === null ? null : Number(t.upTo), unit_price_micros: formatScaledMicros(t.unitPrice), flat_fee_micros: formatScaledMicros(t.flatFee) };
  });
}

/**
 * A `tiers::text` column value read exactly (numbers never become floats), validated (more than
 * 6 decimal places -> RangeError naming the value) and normalised to snake_case decimal strings.
 */
export function tierRowsFromJson(text: string | null): TierRow[] | null {
  return text === null ? null : tierRows(parseTiers(text));
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
    if (units > 0n) amount += units * tier.unitPrice + tier.flatFee;
    if (tier.upTo === null) break;
    lower = tier.upTo;
  }
  // Units above a last bounded tier are priced at the last tier's unit price.
  const lastTier = tiers[tiers.length - 1];
  if (lastTier && lastTier.upTo !== null && quantity > lastTier.upTo) amount += (quantity - lastTier.upTo) * lastTier.unitPrice;
  return amount;
}

function volume(tiers: Tier[], quantity: bigint): bigint {
  const tier = tiers.find((t) => t.upTo === null || quantity <= t.upTo) ?? tiers[tiers.length - 1];
  return tier ? quantity * tier.unitPrice + tier.flatFee : 0n;
}

/** What `quantity` units of the component's meter cost in one pricing window, in whole micros (rounded half-up once). */
export function chargeMicros(component: PriceComponent, quantity: bigint): bigint {
  return roundScaled(chargeScaled(component, quantity));
}

/** The exact charge in scaled micros. */
export function chargeScaled(component: PriceComponent, quantity: bigint): bigint {
  if (quantity < 0n) throw new RangeError('quantity must be >= 0');
  const q = billable(component, quantity);
  if (q === 0n) return 0n;
  switch (component.model) {
    case 'standard':
      return q * component.unitPrice;
    case 'graduated':
      return graduated(component.tiers, q);
    case 'volume':
      return volume(component.tiers, q);
    case 'package':
      if (component.packageSize <= 0n) throw new RangeError('package size must be > 0');
      return ceilDiv(q, component.packageSize) * component.unitPrice;
  }
}

/** The columns of a `price_components` row that pricing needs (as pg returns them: NUMERIC and bigint as strings). */
export const priceComponentRowSchema = z.object({
  id: z.string(),
  meter: z.string(),
  model: z.enum(chargeModels),
  unit_price_micros: z.union([z.string(), z.number()]).nullable().optional(),
  tiers: z.unknown().optional(),
  package_size: z.union([z.string(), z.number(), z.bigint()]).nullable().optional(),
  included_quantity: z.union([z.string(), z.number(), z.bigint()]).nullable().optional(),
});

/** A price component from its database row (snake_case) or an already camelCased object with the same fields. */
export function priceComponentFromRow(row: Record<string, unknown>): PriceComponent {
  const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const pick = (k: string) => (row[k] !== undefined ? row[k] : row[camel(k)]);
  const r = priceComponentRowSchema.parse({
    id: pick('id'),
    meter: pick('meter'),
    model: pick('model'),
    unit_price_micros: pick('unit_price_micros'),
    tiers: pick('tiers'),
    package_size: pick('package_size'),
    included_quantity: pick('included_quantity'),
  });
  return {
    id: r.id,
    meter: r.meter,
    model: r.model,
    unitPrice: r.unit_price_micros === null || r.unit_price_micros === undefined ? 0n : toScaledMicros(r.unit_price_micros),
    tiers: parseTiers(r.tiers),
    packageSize: r.package_size === null || r.package_size === undefined ? 1n : BigInt(r.package_size),
    includedQuantity: r.included_quantity === null || r.included_quantity === undefined ? 0n : BigInt(r.included_quantity),
  };
}
