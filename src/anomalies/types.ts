/** The detector's vocabulary: what goes in (buckets, a metric spec) and what comes out. */

/** Which deviations matter: a drop in errors is not an alert, a drop in requests may be. */
export type Direction = 'up' | 'down' | 'both';

/** One bucket of a metric series. `volume` (e.g. requests behind an error ratio) feeds the gate. */
export interface Bucket {
  /** Bucket start, epoch milliseconds (UTC). */
  readonly t: number;
  readonly value: number;
  readonly volume?: number;
}

export interface MetricSpec {
  readonly direction: Direction;
  /** Smallest spread (σ-equivalent, the metric's unit) ever used: quiet series do not alert on noise. */
  readonly spreadFloor: number;
  /** Buckets with volume below this are neither judged nor used as history (0: no gate). */
  readonly minVolume: number;
}

/** How the expected value was obtained. */
export type BaselineKind = 'week' | 'day' | 'recent' | 'none';

export interface ScoredBucket {
  readonly t: number;
  readonly value: number;
  /** Expected value (median of the baseline sample); NaN when kind is 'none'. */
  readonly expected: number;
  /** Robust spread in the metric's unit (1.4826·MAD with floors). */
  readonly spread: number;
  /** The band a value may move in without being anomalous: expected ± bandWidth·spread. */
  readonly lower: number;
  readonly upper: number;
  /** Signed deviation in spreads ((value − expected) / spread). */
  readonly z: number;
  /** 0..1 in the metric's direction: 0.5 at the band's edge, → 1 far outside it. */
  readonly score: number;
  readonly anomalous: boolean;
  readonly baseline: BaselineKind;
  /** History points behind the baseline (for explanations and for trust). */
  readonly samples: number;
  /** True when the bucket's volume was below the spec's minimum (never anomalous). */
  readonly gated: boolean;
}
