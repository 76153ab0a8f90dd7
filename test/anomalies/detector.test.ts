/** The detector core: what it flags, what it leaves alone, and incremental scoring equal to batch scoring. */
import { describe, expect, it } from 'vitest';
import { historyNeededMs, scoreSeries, type Bucket, type MetricSpec, type ScoredBucket } from '../../src/anomalies/index.js';
import { prng } from '../helpers/prng.js';
import { at, day, gaussian, hour, makeSeries, minute, shapeAt, start, type SeriesShape } from './series.js';

const both: MetricSpec = { direction: 'both', spreadFloor: 0, minVolume: 0 };

function score(buckets: Bucket[], bucketMs: number, spec: MetricSpec = both): ScoredBucket[] {
  return scoreSeries({ history: [], buckets, spec, bucketMs });
}

function anomalousIndices(scored: readonly ScoredBucket[]): number[] {
  return scored.flatMap((s, i) => (s.anomalous ? [i] : []));
}

describe('detector', () => {
  it('flags a spike, and nothing else, in a noisy flat series', () => {
    const bucketMs = 5 * minute;
    const buckets = makeSeries({ days: 10, bucketMs, level: 100, noise: 5, seed: 1 });
    const spike = at(bucketMs, 8, 13);
    buckets[spike] = { ...buckets[spike]!, value: 100 + 15 * 5 * 3 };
    const scored = score(buckets, bucketMs);
    expect(anomalousIndices(scored)).toEqual([spike]);
    const s = scored[spike]!;
    expect(s.score).toBeGreaterThan(0.5);
    expect(s.value).toBeGreaterThan(s.upper);
    expect(s.expected).toBeCloseTo(100, -1);
    expect(s.baseline).toBe('recent');
    // the bucket before the spike has a band around the level and a small score
    expect(scored[spike - 1]!.lower).toBeLessThan(100);
    expect(scored[spike - 1]!.upper).toBeGreaterThan(100);
    expect(scored[spike - 1]!.score).toBeLessThan(0.2);
  });

  it('does not alert on a strong daily and weekly pattern, but flags a value normal at 3 pm that arrives at 3 am', () => {
    const bucketMs = hour;
    const shape: SeriesShape = { days: 42, bucketMs, level: 1000, daily: 0.6, weekend: 0.5, noise: 20, seed: 2 };
    const buckets = makeSeries(shape);
    const scored = score(buckets, bucketMs);
    // The very first weekend is new (half the weekday level, never seen before): it may alert
    // once. From the second weekend on the weekly baseline knows weekends.
    expect(anomalousIndices(scored).filter((i) => i >= at(bucketMs, 7))).toEqual([]);
    // once weeks of history exist, a seasonal baseline explains the series better than the last hours
    const late = scored.slice(at(bucketMs, 28));
    expect(late.filter((s) => s.baseline === 'week' || s.baseline === 'day').length / late.length).toBeGreaterThan(0.9);

    // Wednesday of week 6, 03:00: the level of the daily peak (15:00) is far outside the band
    const i = at(bucketMs, 37, 3);
    const peak = shapeAt(shape, start + at(bucketMs, 37, 15) * bucketMs);
    const odd = buckets.map((b, k) => (k === i ? { ...b, value: peak } : b));
    const s = score(odd, bucketMs)[i]!;
    expect(s.anomalous).toBe(true);
    expect(['week', 'day']).toContain(s.baseline);
    expect(s.expected).toBeLessThan(peak / 2);
  });

  it('respects the direction: a drop alerts a two-sided or downward metric, never an upward one', () => {
    const bucketMs = 5 * minute;
    const buckets = makeSeries({ days: 9, bucketMs, level: 0.02, noise: 0.002, seed: 3 });
    const drop = at(bucketMs, 8, 2);
    const rise = at(bucketMs, 8, 20);
    buckets[drop] = { ...buckets[drop]!, value: 0 };
    buckets[rise] = { ...buckets[rise]!, value: 0.06 };
    const up = score(buckets, bucketMs, { ...both, direction: 'up' });
    const down = score(buckets, bucketMs, { ...both, direction: 'down' });
    const twoSided = score(buckets, bucketMs, both);
    expect(anomalousIndices(up)).toEqual([rise]);
    expect(up[drop]!.score).toBe(0);
    expect(up[drop]!.z).toBeLessThan(-6);
    expect(anomalousIndices(down)).toEqual([drop]);
    expect(down[rise]!.score).toBe(0);
    expect(anomalousIndices(twoSided)).toEqual([drop, rise]);
  });

  it('gates on volume: a burst in too few requests is not judged, nor used as history', () => {
    const bucketMs = 5 * minute;
    const noise = gaussian(prng(4));
    const buckets: Bucket[] = Array.from({ length: at(bucketMs, 3) }, (_, i) => ({ t: start + i * bucketMs, value: 0.01 + 0.001 * noise(), volume: 500 }));
    const spec: MetricSpec = { direction: 'up', spreadFloor: 0, minVolume: 20 };
    // the second day is quiet: a few requests per bucket, so ratios of 0 or 0.5
    const quiet = at(bucketMs, 1);
    for (let i = quiet; i < quiet + 288; i++) buckets[i] = { ...buckets[i]!, value: i % 2 ? 0.5 : 0, volume: 2 };
    const lowBurst = at(bucketMs, 2, 5);
    const realBurst = lowBurst + 12;
    buckets[lowBurst] = { t: buckets[lowBurst]!.t, value: 0.6, volume: 3 };
    buckets[realBurst] = { t: buckets[realBurst]!.t, value: 0.2, volume: 400 };
    const scored = score(buckets, bucketMs, spec);
    expect(scored[lowBurst]).toMatchObject({ gated: true, anomalous: false });
    expect(scored[quiet + 5]).toMatchObject({ gated: true, anomalous: false });
    expect(scored[realBurst]).toMatchObject({ gated: false, anomalous: true });
    // the quiet day's 0 / 0.5 ratios never reached the baseline: it still expects about 1 %
    expect(scored[realBurst]!.expected).toBeCloseTo(0.01, 2);
    expect(anomalousIndices(scored)).toEqual([realBurst]);
  });

  it('has a spread floor: a quiet series does not alert on noise', () => {
    const bucketMs = hour;
    const noise = gaussian(prng(5));
    const buckets: Bucket[] = Array.from({ length: at(bucketMs, 10) }, (_, i) => ({ t: start + i * bucketMs, value: 0.001 + 0.00001 * noise() }));
    const bump = at(bucketMs, 9, 4);
    buckets[bump] = { ...buckets[bump]!, value: 0.003 };
    const bare = score(buckets, bucketMs, { direction: 'up', spreadFloor: 0, minVolume: 0 });
    expect(anomalousIndices(bare)).toEqual([bump]);
    const floored = score(buckets, bucketMs, { direction: 'up', spreadFloor: 0.001, minVolume: 0 });
    expect(anomalousIndices(floored)).toEqual([]);
    expect(floored[bump]!.spread).toBe(0.001);
    expect(floored[bump]!.upper).toBeGreaterThan(0.003);
  });

  it('judges nothing until it has history, and refuses buckets out of time order or a bad spec', () => {
    const bucketMs = hour;
    const buckets = makeSeries({ days: 2, bucketMs, level: 10, noise: 1, seed: 6 });
    const scored = score(buckets, bucketMs);
    expect(scored.slice(0, 12).every((s) => s.baseline === 'none' && !s.anomalous && s.score === 0)).toBe(true);
    expect(scored[12]!.baseline).toBe('recent');
    expect(() => score([buckets[1]!, buckets[0]!], bucketMs)).toThrow(/in order/);
    expect(() => score(buckets, 0)).toThrow(/bucketMs/);
    expect(() => score(buckets, bucketMs, { ...both, spreadFloor: -1 })).toThrow(/spreadFloor/);
    expect(() => score(buckets, bucketMs, { ...both, direction: 'sideways' as 'up' })).toThrow(/direction/);
  });

  it('scoring new buckets given the history before them equals scoring the whole series', () => {
    for (const [bucketMs, days, seed] of [
      [hour, 60, 7],
      [5 * minute, 12, 8],
    ] as const) {
      const rand = prng(seed);
      const all = makeSeries({ days, bucketMs, level: 200, daily: 0.4, weekend: 0.7, noise: 10, seed }).flatMap((b) => {
        if (rand() < 0.03) return []; // missing buckets
        const value = rand() < 0.005 ? NaN : rand() < 0.01 ? b.value * 3 : b.value;
        return [{ ...b, value, volume: Math.floor(rand() * 100) }];
      });
      const spec: MetricSpec = { direction: 'up', spreadFloor: 1, minVolume: 10 };
      const batch = scoreSeries({ history: [], buckets: all, spec, bucketMs });
      expect(batch.some((s) => s.anomalous)).toBe(true);
      const need = historyNeededMs(bucketMs);
      const incremental: ScoredBucket[] = [];
      for (let from = 0; from < all.length; ) {
        const to = Math.min(all.length, from + 1 + Math.floor(rand() * 60));
        const t0 = all[from]!.t;
        const history = all.slice(0, from).filter((b) => b.t >= t0 - need);
        incremental.push(...scoreSeries({ history, buckets: all.slice(from, to), spec, bucketMs }));
        from = to;
      }
      expect(incremental).toEqual(batch);
    }
  });

  it('asks for a bounded history: 4 weeks of seasons plus two capped windows', () => {
    expect(historyNeededMs(hour)).toBe(28 * day + hour / 2 + 14 * day);
    expect(historyNeededMs(5 * minute)).toBe(28 * day + hour / 2 + 288 * 5 * minute + 7 * day);
  });
});
