import { describe, expect, it } from 'vitest';
import { billingPeriod, daysInMonth, isValidTimeZone, startOfLocalDay } from '../../src/quotas/period.js';

const iso = (d: Date) => d.toISOString();
const p = (at: string, anchorDay: number, timeZone: string) => {
  const r = billingPeriod({ at: new Date(at), anchorDay, timeZone });
  return { start: iso(r.start), end: iso(r.end), key: r.key };
};

describe('billingPeriod', () => {
  it('calendar month in UTC, boundaries inclusive at start and exclusive at end', () => {
    expect(p('2026-03-15T12:00:00Z', 1, 'UTC')).toEqual({ start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z', key: '2026-03-01' });
    expect(p('2026-03-01T00:00:00Z', 1, 'UTC').start).toBe('2026-03-01T00:00:00.000Z');
    expect(p('2026-02-28T23:59:59.999Z', 1, 'UTC').start).toBe('2026-02-01T00:00:00.000Z');
  });

  it('resets at local midnight in the tenant time zone, across a DST change', () => {
    // 22:00 on Feb 28 in New York is still February's period.
    expect(p('2026-03-01T03:00:00Z', 1, 'America/New_York')).toEqual({ start: '2026-02-01T05:00:00.000Z', end: '2026-03-01T05:00:00.000Z', key: '2026-02-01' });
    // March starts at EST midnight and ends at EDT midnight (DST began on March 8).
    expect(p('2026-03-01T05:00:00Z', 1, 'America/New_York')).toEqual({ start: '2026-03-01T05:00:00.000Z', end: '2026-04-01T04:00:00.000Z', key: '2026-03-01' });
    // East of UTC: Tokyo's April 1 begins on March 31 at 15:00 UTC.
    expect(p('2026-03-31T15:00:00Z', 1, 'Asia/Tokyo').key).toBe('2026-04-01');
    expect(p('2026-03-31T14:59:59Z', 1, 'Asia/Tokyo').key).toBe('2026-03-01');
    expect(p('2026-06-10T00:00:00Z', 10, 'Asia/Kolkata').start).toBe('2026-06-09T18:30:00.000Z');
  });

  it('clamps anchor day 31 to the last day of short months, including February in leap years', () => {
    expect(p('2026-02-15T00:00:00Z', 31, 'UTC')).toEqual({ start: '2026-01-31T00:00:00.000Z', end: '2026-02-28T00:00:00.000Z', key: '2026-01-31' });
    expect(p('2026-02-28T00:00:00Z', 31, 'UTC')).toEqual({ start: '2026-02-28T00:00:00.000Z', end: '2026-03-31T00:00:00.000Z', key: '2026-02-28' });
    expect(p('2028-02-28T12:00:00Z', 31, 'UTC').end).toBe('2028-02-29T00:00:00.000Z');
    expect(p('2028-02-29T12:00:00Z', 30, 'UTC')).toEqual({ start: '2028-02-29T00:00:00.000Z', end: '2028-03-30T00:00:00.000Z', key: '2028-02-29' });
    expect(p('2026-04-30T10:00:00Z', 31, 'UTC').key).toBe('2026-04-30');
    expect(p('2026-12-31T10:00:00Z', 31, 'UTC')).toEqual({ start: '2026-12-31T00:00:00.000Z', end: '2027-01-31T00:00:00.000Z', key: '2026-12-31' });
    // Year boundary for anchor 15.
    expect(p('2027-01-10T00:00:00Z', 15, 'UTC').key).toBe('2026-12-15');
  });

  it('starts the day after the gap where DST skips midnight, and once where midnight repeats', () => {
    // Santiago jumps from 00:00 to 01:00 on 2026-09-06: the day begins at 01:00 local = 04:00Z.
    expect(iso(startOfLocalDay(2026, 9, 6, 'America/Santiago'))).toBe('2026-09-06T04:00:00.000Z');
    expect(p('2026-09-06T03:59:59Z', 6, 'America/Santiago').key).toBe('2026-08-06');
    expect(p('2026-09-06T04:00:00Z', 6, 'America/Santiago').key).toBe('2026-09-06');
    // Havana skips 00:00-01:00 on 2026-03-08.
    expect(iso(startOfLocalDay(2026, 3, 8, 'America/Havana'))).toBe('2026-03-08T05:00:00.000Z');
    // Santiago falls back 00:00 → 23:00 on 2026-04-05: April 5 begins once, at 04:00Z.
    expect(iso(startOfLocalDay(2026, 4, 5, 'America/Santiago'))).toBe('2026-04-05T04:00:00.000Z');
  });

  it('holds its invariants for many instants, zones and anchors', () => {
    const zones = ['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/Santiago', 'Asia/Kathmandu', 'Pacific/Kiritimati', 'Pacific/Pago_Pago'];
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 400; i++) {
      const zone = zones[i % zones.length]!;
      const anchorDay = 1 + Math.floor(rnd() * 31);
      const at = Date.UTC(2025, 0, 1) + Math.floor(rnd() * 3 * 365 * 86_400_000);
      const r = billingPeriod({ at, anchorDay, timeZone: zone });
      expect(r.start.getTime()).toBeLessThanOrEqual(at);
      expect(r.end.getTime()).toBeGreaterThan(at);
      const len = (r.end.getTime() - r.start.getTime()) / 86_400_000;
      expect(len).toBeGreaterThanOrEqual(27.9);
      expect(len).toBeLessThanOrEqual(31.1);
      // The period starts on the (clamped) anchor day and the next one starts where this one ends.
      const [y, m, d] = r.key.split('-').map(Number) as [number, number, number];
      expect(d).toBe(Math.min(anchorDay, daysInMonth(y, m)));
      expect(billingPeriod({ at: r.end, anchorDay, timeZone: zone }).start.getTime()).toBe(r.end.getTime());
      expect(billingPeriod({ at: r.start.getTime() - 1, anchorDay, timeZone: zone }).end.getTime()).toBe(r.start.getTime());
    }
  });

  it('rejects bad anchors and knows valid zones', () => {
    expect(() => billingPeriod({ at: 0, anchorDay: 0, timeZone: 'UTC' })).toThrow(RangeError);
    expect(() => billingPeriod({ at: 0, anchorDay: 32, timeZone: 'UTC' })).toThrow(RangeError);
    expect(isValidTimeZone('Europe/Paris')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
  });
});
