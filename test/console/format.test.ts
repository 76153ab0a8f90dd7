/** The console's display helpers (browser code, pure functions): money from micro-unit strings without floats. */
import { describe, expect, it } from 'vitest';
import { fmtMoney, fmtInt, microsToUnits } from '../../console/src/format.js';
import { align } from '../../console/src/chart.js';

describe('console formatting', () => {
  it('formats micros exactly, with sub-cent amounts kept visible', () => {
    expect(fmtMoney('0', 'USD')).toBe('0.00 USD');
    expect(fmtMoney('12345678', 'USD')).toBe('12.34 USD');
    expect(fmtMoney('1234567890123456789', 'EUR')).toBe('1,234,567,890,123.45 EUR');
    expect(fmtMoney('1500', 'USD')).toBe('0.0015 USD');
    expect(fmtMoney('10000', 'USD')).toBe('0.01 USD');
    expect(fmtMoney('-2500000', 'USD')).toBe('-2.50 USD');
    expect(fmtMoney(null, 'USD')).toBe('—');
    expect(fmtInt(1234567)).toBe('1,234,567');
    expect(microsToUnits('2500000')).toBe(2.5);
  });

  it('aligns series with different buckets on one grid (0 or gap for missing buckets)', () => {
    const a = { buckets: [60, 180], values: [1, 3] };
    const b = { buckets: [120], values: [5] };
    expect(align([a, b], 0, [0, 60, 120, 180])).toEqual([[0, 60, 120, 180], [0, 1, 0, 3], [0, 0, 5, 0]]);
    expect(align([a, b], null)).toEqual([[60, 120, 180], [1, null, 3], [null, 5, null]]);
  });
});
