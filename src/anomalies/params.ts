/**
 * The detector's global parameters: one set for every series, never tuned per file or per
 * tenant (README.md says how they were chosen). Callers override them only to experiment.
 */
export interface Season {
  readonly kind: 'day' | 'week';
  readonly periodMs: number;
  /** How many past periods the baseline looks at. */
  readonly lookback: number;
}

export interface DetectorParams {
  /** Least band half-width in spreads: the band is at least expected ± bandWidth·spread. */
  readonly bandWidth: number;
  /** Score at which a bucket is anomalous; 0.5 is exactly the band's edge. */
  readonly threshold: number;
  /** "Same time of period" means within ± this of it (at least half a bucket). */
  readonly slotHalfWidthMs: number;
  readonly seasons: readonly Season[];
  /** The non-seasonal baseline: the last this-many bucket widths. */
  readonly recentBuckets: number;
  /** Fewer history points than this: no baseline, nothing is judged. */
  readonly minSamples: number;
  /** Baselines compete on their mean absolute error over the last this-many bucket widths. */
  readonly selectionBuckets: number;
  /** A seasonal baseline must beat the recent one by this factor of error to be chosen. */
  readonly seasonalAdvantage: number;
  /** The spread is at least this fraction of |expected| (besides the spec's absolute floor). */
  readonly relativeSpreadFloor: number;
  /**
   * Band calibration: the band is widened to tailFactor × the tailQuantile of the deviations
   * (in spreads) seen over the last tailBuckets bucket widths, for series that stray often.
   */
  readonly tailBuckets: number;
  readonly tailQuantile: number;
  readonly tailFactor: number;
  /** No window counted in buckets (recent, selection, tail) reaches further back than this. */
  readonly maxWindowMs: number;
}

const hour = 3_600_000;
const day = 24 * hour;

export const defaultParams: DetectorParams = {
  bandWidth: 6,
  threshold: 0.5,
  slotHalfWidthMs: hour / 2,
  seasons: [
    { kind: 'week', periodMs: 7 * day, lookback: 4 },
    { kind: 'day', periodMs: day, lookback: 14 },
  ],
  recentBuckets: 288,
  minSamples: 12,
  selectionBuckets: 288,
  seasonalAdvantage: 0.8,
  relativeSpreadFloor: 0.001,
  tailBuckets: 2016,
  tailQuantile: 0.99,
  tailFactor: 1.5,
  maxWindowMs: 7 * day,
};

/** A window of `buckets` bucket widths, capped at maxWindowMs (keeps hourly series' history bounded). */
export function windowMs(buckets: number, bucketMs: number, p: DetectorParams): number {
  return Math.min(buckets * bucketMs, p.maxWindowMs);
}

/** Merges overrides onto the defaults. */
export function detectorParams(overrides: Partial<DetectorParams> = {}): DetectorParams {
  return { ...defaultParams, ...overrides };
}
