/**
 * Billing periods: monthly, starting at local midnight on the tenant's anchor day in the
 * tenant's IANA time zone. An anchor past the month's last day clamps to that last day
 * (anchor 31 → Feb 28/29, Apr 30), as card networks and Stripe do. Pure functions over
 * `Intl.DateTimeFormat`; no date library.
 */

export interface BillingPeriod {
  /** First instant of the period (inclusive). */
  start: Date;
  /** First instant of the next period (exclusive). */
  end: Date;
  /** Local calendar date the period starts on, `YYYY-MM-DD`; stable id for Redis keys. */
  key: string;
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown zone: callers validate zones when tenants are saved.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when `timeZone` is an IANA zone this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface LocalParts {
  year: number;
  month: number; // 1-12
  day: number;
}

/** The wall-clock time in `timeZone` at instant `t`, expressed as if it were UTC (ms). */
function wallClock(t: number, timeZone: string): number {
  const parts = formatter(timeZone).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
}

function localDate(t: number, timeZone: string): LocalParts {
  const w = new Date(wallClock(t, timeZone));
  return { year: w.getUTCFullYear(), month: w.getUTCMonth() + 1, day: w.getUTCDate() };
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * The first instant at which the local date in `timeZone` is (year, month, day): local
 * midnight, or — where a DST jump skips midnight — the moment the day begins after the gap.
 * Where midnight occurs twice (fall back across midnight), the earlier one.
 */
export function startOfLocalDay(year: number, month: number, day: number, timeZone: string): Date {
  const target = Date.UTC(year, month - 1, day);
  // Real zones change offset at most once within a day on either side.
  const offsets = [target - DAY_MS, target + DAY_MS].map((t) => wallClock(t, timeZone) - t);
  const candidates = [...new Set(offsets.map((o) => target - o))].sort((a, b) => a - b);
  for (const c of candidates) if (wallClock(c, timeZone) === target) return new Date(c);
  // Midnight falls in a gap: binary-search the first second whose wall clock is at or past it.
  let lo = candidates[0]! - DAY_MS / 24;
  let hi = candidates[candidates.length - 1]! + DAY_MS / 24;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (mid <= lo) break;
    if (wallClock(mid, timeZone) >= target) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

function anchorIn(year: number, month: number, anchorDay: number): LocalParts {
  return { year, month, day: Math.min(anchorDay, daysInMonth(year, month)) };
}

function shiftMonth(year: number, month: number, delta: number): { year: number; month: number } {
  const idx = year * 12 + (month - 1) + delta;
  return { year: Math.floor(idx / 12), month: (idx % 12) + 1 };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The billing period that contains instant `at` for a tenant with `anchorDay` (1-31) in `timeZone`. */
export function billingPeriod(opts: { at: Date | number; anchorDay: number; timeZone: string }): BillingPeriod {
  const { anchorDay, timeZone } = opts;
  if (!Number.isInteger(anchorDay) || anchorDay < 1 || anchorDay > 31) throw new RangeError(`anchorDay must be 1-31, got ${anchorDay}`);
  const t = typeof opts.at === 'number' ? opts.at : opts.at.getTime();
  const here = localDate(t, timeZone);
  let startParts = anchorIn(here.year, here.month, anchorDay);
  let start = startOfLocalDay(startParts.year, startParts.month, startParts.day, timeZone);
  if (t < start.getTime()) {
    const prev = shiftMonth(here.year, here.month, -1);
    startParts = anchorIn(prev.year, prev.month, anchorDay);
    start = startOfLocalDay(startParts.year, startParts.month, startParts.day, timeZone);
  }
  const next = shiftMonth(startParts.year, startParts.month, 1);
  const endParts = anchorIn(next.year, next.month, anchorDay);
  const end = startOfLocalDay(endParts.year, endParts.month, endParts.day, timeZone);
  return { start, end, key: `${pad(startParts.year, 4)}-${pad(startParts.month)}-${pad(startParts.day)}` };
}
