/**
 * Money rules of an invoice (README "Billing"): amounts are integer micros; each line is rounded
 * half-up (away from zero) to the currency's minor unit (ISO 4217 exponent); the subtotal is the
 * sum of rounded lines; an exclusive tax rate applies to the subtotal, rounded once per invoice.
 */

// ISO 4217 currencies whose minor unit is not 2 decimals; every other code has 2.
const EXPONENT: Record<string, number> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0, UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};

export function currencyExponent(currency: string): number {
  return EXPONENT[currency.toUpperCase()] ?? 2;
}

/** Micros in one minor unit: USD 10,000 (a cent), JPY 1,000,000, KWD 1,000. */
export function microsPerMinorUnit(currency: string): bigint {
  return 10n ** BigInt(6 - currencyExponent(currency));
}

/** v / unit rounded half away from zero, times unit. */
function roundTo(v: bigint, unit: bigint): bigint {
  const abs = v < 0n ? -v : v;
  const r = ((abs + unit / 2n) / unit) * unit;
  return v < 0n ? -r : r;
}

/** A line's micros rounded half-up to the currency's minor unit (still in micros). */
export function roundLineMicros(micros: bigint, currency: string): bigint {
  return roundTo(micros, microsPerMinorUnit(currency));
}

/** A decimal rate "0.19" as millionths (190000n); at most 6 decimals. */
export function parseRateMillionths(rate: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(rate.trim());
  if (!m) throw new RangeError(`not a tax rate: ${JSON.stringify(rate)}`);
  return BigInt(m[1]!) * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0') || '0');
}

/** Exclusive tax on the subtotal, rounded half-up once to the minor unit (micros). */
export function taxMicros(subtotal: bigint, rate: string, currency: string): bigint {
  const millionths = parseRateMillionths(rate);
  if (millionths === 0n) return 0n;
  return roundTo(subtotal * millionths, microsPerMinorUnit(currency) * 1_000_000n) / 1_000_000n;
}

export interface Totals {
  subtotalMicros: bigint;
  taxMicros: bigint;
  totalMicros: bigint;
}

export function invoiceTotals(roundedLines: readonly bigint[], rate: string, currency: string): Totals {
  const subtotalMicros = roundedLines.reduce((a, b) => a + b, 0n);
  const tax = subtotalMicros > 0n ? taxMicros(subtotalMicros, rate, currency) : 0n;
  return { subtotalMicros, taxMicros: tax, totalMicros: subtotalMicros + tax };
}
