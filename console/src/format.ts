/** Numbers, money and times for display. Money arrives as integer micro-unit strings (Micros). */
export function fmtInt(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US');
}

/** "12.345678" → "12.35 USD": micros as a decimal string without floats for the integer part. */
export function fmtMoney(micros: string | null | undefined, currency: string): string {
  if (micros === null || micros === undefined) return '—';
  const neg = micros.startsWith('-');
  const digits = (neg ? micros.slice(1) : micros).padStart(7, '0');
  const units = digits.slice(0, -6).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  // Two decimals, or up to six for amounts below one cent (so small usage does not read as 0.00).
  const frac = units === '0' && /^00/.test(digits.slice(-6)) && /[1-9]/.test(digits.slice(-6)) ? digits.slice(-6).replace(/0+$/, '').padEnd(2, '0') : digits.slice(-6, -4);
  return `${neg ? '-' : ''}${units}.${frac} ${currency}`;
}

/** Micros string → currency units as a number, for charts only (never for sums shown as money). */
export function microsToUnits(micros: string | null | undefined): number | null {
  return micros === null || micros === undefined ? null : Number(micros) / 1e6;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
}

export function fmtRelative(iso: string, now = Date.now()): string {
  const s = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(s);
  const unit = abs >= 86400 ? [86400, 'd'] : abs >= 3600 ? [3600, 'h'] : abs >= 60 ? [60, 'min'] : [1, 's'];
  const v = Math.round(abs / (unit[0] as number));
  return s >= 0 ? `in ${v} ${unit[1]}` : `${v} ${unit[1]} ago`;
}
