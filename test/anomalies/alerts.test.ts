/** Alert hysteresis and the explanation a person reads. */
import { describe, expect, it } from 'vitest';
import { closedState, explainBucket, formatValue, hysteresisFor, runAlerts, stepAlert, type ScoredBucket } from '../../src/anomalies/index.js';

const a = { anomalous: true, judged: true };
const n = { anomalous: false, judged: true };
const skip = { anomalous: false, judged: false };

describe('hysteresis', () => {
  it('opens after k anomalous buckets in a row and resolves after m normal ones', () => {
    const params = { openAfter: 2, resolveAfter: 3 };
    const { transitions, state } = runAlerts([a, n, a, a, a, n, n, a, n, n, n, a], params);
    expect(transitions).toEqual([null, null, null, 'opened', null, null, null, null, null, null, 'resolved', null]);
    expect(state).toEqual({ open: false, run: 1 });
  });

  it('buckets that were not judged neither open, keep open nor resolve', () => {
    const params = { openAfter: 2, resolveAfter: 2 };
    expect(runAlerts([a, skip, a], params).transitions).toEqual([null, null, 'opened']);
    expect(runAlerts([a, skip, a, n, skip, skip, n], params).transitions).toEqual([null, null, 'opened', null, null, null, 'resolved']);
  });

  it('continues from a stored state, as the job does between passes', () => {
    const params = { openAfter: 1, resolveAfter: 2 };
    const first = runAlerts([n, a, n], params);
    expect(first.transitions).toEqual([null, 'opened', null]);
    const second = runAlerts([n, a], params, first.state);
    expect(second.transitions).toEqual(['resolved', 'opened']);
    expect(stepAlert(closedState, a, params)).toEqual({ state: { open: true, run: 0 }, transition: 'opened' });
  });

  it('derives bucket counts from durations', () => {
    expect(hysteresisFor(3_600_000)).toEqual({ openAfter: 1, resolveAfter: 12 });
    expect(hysteresisFor(60_000, { openAfter: 2, resolveAfterMs: 15 * 60_000 })).toEqual({ openAfter: 2, resolveAfter: 15 });
    expect(hysteresisFor(86_400_000)).toEqual({ openAfter: 1, resolveAfter: 1 });
    expect(() => hysteresisFor(60_000, { openAfter: 0 })).toThrow(RangeError);
  });
});

function bucket(over: Partial<ScoredBucket>): ScoredBucket {
  return { t: Date.UTC(2025, 0, 7, 14), value: 0.124, expected: 0.008, spread: 0.000833, lower: 0.003, upper: 0.013, z: 139, score: 0.998, anomalous: true, baseline: 'week', samples: 4, gated: false, ...over };
}

describe('explanations', () => {
  it('says value, expected value, band and where the expectation comes from', () => {
    expect(explainBucket({ label: 'errors', format: 'ratio', bucket: bucket({}), bucketMs: 3_600_000 })).toBe('errors 12.4 % vs expected 0.8 % ± 0.5 % for Tuesdays 14:00, last 4 weeks');
    // the tenant's time zone: 14:00 UTC on a Tuesday is 09:00 in New York
    expect(explainBucket({ label: 'errors', format: 'ratio', bucket: bucket({}), bucketMs: 3_600_000, timeZone: 'America/New_York' })).toBe('errors 12.4 % vs expected 0.8 % ± 0.5 % for Tuesdays 09:00, last 4 weeks');
    expect(explainBucket({ label: 'p95 latency', format: 'ms', bucket: bucket({ value: 1840, expected: 210, upper: 270, baseline: 'day' }), bucketMs: 3_600_000 })).toBe('p95 latency 1.84 s vs expected 210 ms ± 60 ms for 14:00 on recent days, last 14 days');
    expect(explainBucket({ label: 'requests', format: 'count', bucket: bucket({ value: 5210, expected: 1020, upper: 1330, baseline: 'recent' }), bucketMs: 60_000 })).toBe('requests 5,210 vs expected 1,020 ± 310 over the last 4.8 hours');
    expect(explainBucket({ label: 'requests', format: 'count', bucket: bucket({ value: 12, baseline: 'none' }), bucketMs: 60_000 })).toBe('requests 12: not enough history yet to say what is expected');
    expect(explainBucket({ label: 'errors', format: 'ratio', bucket: bucket({ gated: true, anomalous: false }), bucketMs: 3_600_000 })).toMatch(/too little traffic in this bucket to judge\)$/);
  });

  it('formats money from micros and values with sensible precision', () => {
    expect(formatValue(12_400_000, { currency: 'USD', micros: true })).toBe('$12.40');
    expect(formatValue(0.0123, 'number')).toBe('0.012');
    expect(formatValue(1234.5, 'count')).toBe('1,235');
    expect(formatValue(0.5, (v) => `${v} units`)).toBe('0.5 units');
  });
});
