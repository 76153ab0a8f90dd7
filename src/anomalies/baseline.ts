/**
 * Baseline candidates for each bucket, computed only from buckets with earlier timestamps:
 * - `recent`: the buckets of the last `recentBuckets` bucket widths;
 * - `day` / `week`: the same time of day / of week (± slotHalfWidthMs) in each of the last
 *   `lookback` periods.
 * A candidate's sample is a union of time ranges relative to the bucket; its expected value is
 * the sample's median and its spread max(1.4826·MAD, q95(|deviation|)/1.96): the MAD for the
 * bulk, the 95th percentile so that heavy-tailed (bursty) series get a band that fits them.
 *
 * Samplers are asked for buckets in time order; each range slides forward and the sorted
 * sample is updated in place. The statistics depend only on the sample's values (a multiset),
 * so where the sliding started does not matter: incremental scoring equals batch scoring.
 */
import { lowerBound, madToSigma, SortedSample, sortedStats } from './robust.js';
import { windowMs, type DetectorParams } from './params.js';

export interface SeriesArrays {
  /** Non-decreasing bucket times. */
  readonly t: Float64Array;
  readonly value: Float64Array;
  /** Usable as history: a finite value whose volume passes the gate. */
  readonly usable: Uint8Array;
}

export interface CandidateStats {
  expected: number;
  /** σ-equivalent spread of the sample, before floors. */
  spread: number;
  n: number;
}

/** z of the normal distribution's two-sided 95 %: q95(|x − median|)/1.96 estimates σ. */
const tailQ = 0.95;
const tailZ = 1.96;

/** For bucket time t, the range [t − from, t − to); to ≥ 0, so always strictly before t. */
interface RangeSpec {
  from: number;
  to: number;
}

export class Sampler {
  private readonly sample = new SortedSample();
  /** Per range: the bucket indices [lo, hi) currently in it, and how many of them are usable. */
  private readonly lo: Int32Array;
  private readonly hi: Int32Array;
  private readonly count: Int32Array;
  private started = false;

  constructor(
    private readonly series: SeriesArrays,
    private readonly ranges: readonly RangeSpec[],
    private readonly minSamples: number,
    private readonly minRanges: number,
  ) {
    this.lo = new Int32Array(ranges.length);
    this.hi = new Int32Array(ranges.length);
    this.count = new Int32Array(ranges.length);
  }

  /** The candidate's statistics for bucket i (null: too little history). Call with non-decreasing times. */
  statsAt(i: number): CandidateStats | null {
    const t = this.series.t[i]!;
    if (!this.started) {
      // start each range empty at its lower edge; slide() fills it
      this.ranges.forEach((range, r) => {
        this.lo[r] = this.hi[r] = lowerBound(this.series.t, this.series.t.length, t - range.from);
      });
      this.started = true;
    }
    this.slide(t);
    let rangesSeen = 0;
    for (let r = 0; r < this.ranges.length; r++) if (this.count[r]! > 0) rangesSeen++;
    const n = this.sample.size;
    if (n < this.minSamples || rangesSeen < this.minRanges) return null;
    const s = sortedStats(this.sample.values, n, tailQ);
    return { expected: s.median, spread: Math.max(madToSigma * s.mad, s.tail / tailZ), n };
  }

  /** Moves every range forward to time t: buckets that left are removed, buckets that entered inserted. */
  private slide(t: number): void {
    const { t: times, value, usable } = this.series;
    this.ranges.forEach((range, r) => {
      let lo = this.lo[r]!;
      let hi = this.hi[r]!;
      while (hi < times.length && times[hi]! < t - range.to) {
        if (usable[hi]) {
          this.sample.insert(value[hi]!);
          this.count[r]!++;
        }
        hi++;
      }
      while (lo < hi && times[lo]! < t - range.from) {
        if (usable[lo]) {
          this.sample.remove(value[lo]!);
          this.count[r]!--;
        }
        lo++;
      }
      this.lo[r] = lo;
      this.hi[r] = hi;
    });
  }
}

export function recentSampler(series: SeriesArrays, bucketMs: number, p: DetectorParams): Sampler {
  return new Sampler(series, [{ from: windowMs(p.recentBuckets, bucketMs, p), to: 0 }], p.minSamples, 1);
}

/** The same time of period in each of the last `lookback` periods; at least two periods must have data. */
export function seasonalSampler(series: SeriesArrays, bucketMs: number, season: DetectorParams['seasons'][number], p: DetectorParams): Sampler {
  const half = Math.max(p.slotHalfWidthMs, bucketMs / 2);
  const ranges = Array.from({ length: season.lookback }, (_, k) => ({ from: (k + 1) * season.periodMs + half, to: (k + 1) * season.periodMs - half }));
  const perPeriod = Math.max(1, Math.round((2 * half) / bucketMs));
  return new Sampler(series, ranges, Math.min(p.minSamples, 2 * perPeriod), 2);
}
