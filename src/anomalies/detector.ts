/**
 * The detector: scores buckets against the best of its baseline candidates, using only the
 * buckets before each one. Pure and deterministic, so scoring new buckets with enough history
 * before them (historyNeededMs) gives exactly what scoring the whole series gives.
 */
import { recentSampler, seasonalSampler, type CandidateStats, type Sampler, type SeriesArrays } from './baseline.js';
import { detectorParams, windowMs, type DetectorParams } from './params.js';
import { madToSigma, TimedWindow } from './robust.js';
import type { BaselineKind, Bucket, MetricSpec, ScoredBucket } from './types.js';

/** Written with every score (anomaly_scores_v1.detector): which method produced it. */
export const detectorVersion = 'robust-seasonal-v1';

export interface ScoreSeriesInput {
  /** Buckets already scored (or never to be scored) that precede `buckets`; at least historyNeededMs of them. */
  readonly history: readonly Bucket[];
  /** The buckets to score, in time order, after the history. */
  readonly buckets: readonly Bucket[];
  readonly spec: MetricSpec;
  /** The series' bucket width (a rollup's interval), in ms. */
  readonly bucketMs: number;
  readonly params?: Partial<DetectorParams>;
}

/** How much history before the first new bucket makes incremental scoring equal to batch scoring. */
export function historyNeededMs(bucketMs: number, overrides: Partial<DetectorParams> = {}): number {
  const p = detectorParams(overrides);
  const half = Math.max(p.slotHalfWidthMs, bucketMs / 2);
  const seasonal = Math.max(0, ...p.seasons.map((s) => s.lookback * s.periodMs + half));
  return Math.max(seasonal, windowMs(p.recentBuckets, bucketMs, p)) + warmUpMs(bucketMs, p);
}

/** Buckets before the first new one that must be judged too (their errors and deviations feed later choices). */
function warmUpMs(bucketMs: number, p: DetectorParams): number {
  return windowMs(p.selectionBuckets, bucketMs, p) + windowMs(p.tailBuckets, bucketMs, p);
}

function toArrays(all: readonly Bucket[], spec: MetricSpec): SeriesArrays {
  const n = all.length;
  const t = new Float64Array(n);
  const value = new Float64Array(n);
  const usable = new Uint8Array(n);
  all.forEach((b, i) => {
    if (!Number.isFinite(b.t) || (i > 0 && b.t < t[i - 1]!)) throw new RangeError(`bucket ${i}: times must be finite and in order (got ${b.t} after ${t[i - 1]})`);
    t[i] = b.t;
    value[i] = b.value;
    usable[i] = Number.isFinite(b.value) && !isGated(b, spec) ? 1 : 0;
  });
  return { t, value, usable };
}

function checkSpec(spec: MetricSpec): void {
  if (!['up', 'down', 'both'].includes(spec.direction)) throw new RangeError(`direction must be up, down or both (got ${String(spec.direction)})`);
  if (!(spec.spreadFloor >= 0) || !Number.isFinite(spec.spreadFloor)) throw new RangeError('spreadFloor must be a finite number ≥ 0');
  if (!(spec.minVolume >= 0)) throw new RangeError('minVolume must be ≥ 0');
}

function isGated(b: Bucket, spec: MetricSpec): boolean {
  return spec.minVolume > 0 && !((b.volume ?? 0) >= spec.minVolume);
}

/** A baseline candidate and its absolute errors |value − expected| over the selection window. */
interface Candidate {
  kind: BaselineKind;
  sampler: Sampler;
  errors: TimedWindow;
}

/**
 * Picks the candidate with the smallest mean absolute error over the selection window; a
 * seasonal one must beat 'recent' (always cands[0], the fallback) by seasonalAdvantage.
 * Returns the index, or −1 when no candidate has a baseline.
 */
function choose(cands: readonly Candidate[], current: readonly (CandidateStats | null)[], minCount: number, p: DetectorParams): number {
  let best = current[0] ? 0 : -1;
  let bestErr = cands[0]!.errors.mean();
  const recentErr = bestErr;
  for (let k = 1; k < cands.length; k++) {
    const errors = cands[k]!.errors;
    if (!current[k] || errors.size < minCount) continue;
    const e = errors.mean();
    if (e <= p.seasonalAdvantage * recentErr && (best < 0 || !(e >= bestErr))) {
      best = k;
      bestErr = e;
    }
  }
  return best;
}

/**
 * The candidate's statistics with its spread widened to what its own errors show: a seasonal
 * sample may hold only a few buckets (one per week), its track record holds many.
 */
function withTrackRecord(stats: CandidateStats, errors: TimedWindow, minCount: number): CandidateStats {
  if (errors.size < minCount) return stats;
  return { ...stats, spread: Math.max(stats.spread, madToSigma * errors.median()) };
}

function judge(b: Bucket, stats: CandidateStats | null, kind: BaselineKind, spec: MetricSpec, p: DetectorParams, width: number): ScoredBucket {
  const gated = isGated(b, spec);
  if (!stats || !Number.isFinite(b.value)) {
    return { t: b.t, value: b.value, expected: NaN, spread: NaN, lower: NaN, upper: NaN, z: 0, score: 0, anomalous: false, baseline: 'none', samples: stats?.n ?? 0, gated };
  }
  const spread = Math.max(stats.spread, spec.spreadFloor, p.relativeSpreadFloor * Math.abs(stats.expected));
  const dev = b.value - stats.expected;
  const z = spread > 0 ? dev / spread : dev === 0 ? 0 : Math.sign(dev) * Infinity;
  const directed = directedZ(z, spec);
  const score = scoreOf(directed, width);
  // the band drawn is where the score stays below the threshold
  const half = width * Math.sqrt(p.threshold / (1 - p.threshold)) * spread;
  return {
    t: b.t,
    value: b.value,
    expected: stats.expected,
    spread,
    lower: stats.expected - half,
    upper: stats.expected + half,
    z,
    score,
    anomalous: !gated && score >= p.threshold,
    baseline: kind,
    samples: stats.n,
    gated,
  };
}

function directedZ(z: number, spec: MetricSpec): number {
  return spec.direction === 'up' ? Math.max(z, 0) : spec.direction === 'down' ? Math.max(-z, 0) : Math.abs(z);
}

/** z²/(z²+k²): 0 on the expected value, 0.5 at k spreads, → 1 far away. */
export function scoreOf(directedZ: number, bandWidth: number): number {
  if (!Number.isFinite(directedZ)) return directedZ > 0 ? 1 : 0;
  const z2 = directedZ * directedZ;
  return z2 / (z2 + bandWidth * bandWidth);
}

/** Scores `buckets` given the `history` before them. */
export function scoreSeries(input: ScoreSeriesInput): ScoredBucket[] {
  const p = detectorParams(input.params);
  const { spec, bucketMs } = input;
  if (!(bucketMs > 0)) throw new RangeError('bucketMs must be positive');
  checkSpec(spec);
  const all = input.history.length ? [...input.history, ...input.buckets] : input.buckets;
  const firstNew = input.history.length;
  if (input.buckets.length === 0) return [];
  const series = toArrays(all, spec);
  const cands: Candidate[] = [
    { kind: 'recent', sampler: recentSampler(series, bucketMs, p), errors: new TimedWindow() },
    ...p.seasons
      .filter((s) => s.periodMs >= 4 * bucketMs)
      .map((s): Candidate => ({ kind: s.kind, sampler: seasonalSampler(series, bucketMs, s, p), errors: new TimedWindow() })),
  ];
  const selectionMs = windowMs(p.selectionBuckets, bucketMs, p);
  const tailMs = windowMs(p.tailBuckets, bucketMs, p);
  // a choice or a calibration needs its window half full (in buckets)
  const minCount = Math.max(1, Math.floor(selectionMs / bucketMs / 2));
  const minTail = tailMs / bucketMs / 2;
  const deviations = new TimedWindow();
  const tFirst = all[firstNew]!.t;
  let start = firstNew;
  while (start > 0 && all[start - 1]!.t >= tFirst - warmUpMs(bucketMs, p)) start--;
  const out: ScoredBucket[] = [];
  for (let i = start; i < all.length; i++) {
    const b = all[i]!;
    const current = cands.map((c) => c.sampler.statsAt(i));
    for (const c of cands) c.errors.expire(b.t - selectionMs);
    deviations.expire(b.t - tailMs);
    const chosen = choose(cands, current, minCount, p);
    const width = deviations.size >= minTail ? Math.max(p.bandWidth, p.tailFactor * deviations.quantile(p.tailQuantile)) : p.bandWidth;
    const stats = chosen >= 0 ? withTrackRecord(current[chosen]!, cands[chosen]!.errors, minCount) : null;
    const judged = judge(b, stats, chosen >= 0 ? cands[chosen]!.kind : 'none', spec, p, width);
    if (i >= firstNew) out.push(judged);
    if (series.usable[i]) {
      current.forEach((s, k) => {
        if (s) cands[k]!.errors.push(b.t, Math.abs(b.value - s.expected));
      });
      // capped: one bucket off a zero spread must not make the band infinitely wide
      if (judged.baseline !== 'none') deviations.push(b.t, Math.min(directedZ(judged.z, spec), 1e3));
    }
  }
  return out;
}
