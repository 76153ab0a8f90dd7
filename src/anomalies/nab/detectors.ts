/**
 * The detectors `tollgate anomaly eval` can run over a NAB series. Each turns a series into
 * NAB's per-row anomaly_score; a row is a detection when its score ≥ the threshold.
 * - `tollgate`: the product's detector (../detector.ts) and alert hysteresis (../hysteresis.ts):
 *   a row scores its bucket's score where an alert opens and 0 elsewhere, i.e. NAB counts what
 *   a person would be notified of, once per incident.
 * - `static3sigma`: the textbook baseline: mean and standard deviation of the series' first
 *   15 % (NAB's probationary, learning period) fixed for good, anomalous beyond 3σ (score
 *   z²/(z²+3²) ≥ 0.5), with the same hysteresis, so the comparison isolates the baseline.
 * The threshold (score ≥ T is anomalous) is the detector's own unless --threshold overrides it.
 */
import { scoreOf, scoreSeries } from '../detector.js';
import { hysteresisFor, runAlerts, type HysteresisParams } from '../hysteresis.js';
import { detectorParams, type DetectorParams } from '../params.js';
import { inferBucketMs } from '../series.js';
import type { NabSeries } from './corpus.js';
import { probationaryLength } from './sweeper.js';

export interface NabDetector {
  readonly name: string;
  /** The detector's own fixed threshold (what --threshold overrides). */
  readonly threshold: number;
  run(series: NabSeries, threshold: number): Float64Array;
}

export interface EvalHysteresis {
  readonly openAfter?: number;
  readonly resolveAfterMs?: number;
}

/**
 * The average time between rows. Hysteresis durations are turned into row counts with it:
 * irregularly sampled files hold fewer rows per hour than their typical step suggests.
 */
export function meanStepMs(timestamps: readonly number[]): number {
  let min = Infinity;
  let max = -Infinity;
  for (const t of timestamps) {
    min = Math.min(min, t);
    max = Math.max(max, t);
  }
  return timestamps.length > 1 && max > min ? (max - min) / (timestamps.length - 1) : 1;
}

function openings(rows: readonly { score: number; anomalous: boolean; judged: boolean }[], hysteresis: HysteresisParams): Float64Array {
  const { transitions } = runAlerts(rows, hysteresis);
  return Float64Array.from(rows, (b, i) => (transitions[i] === 'opened' ? b.score : 0));
}

/** Rows in time order (stable): the detector takes buckets in time order, a few NAB files are not. */
function timeOrder(timestamps: readonly number[]): number[] {
  return timestamps.map((_, i) => i).sort((a, b) => timestamps[a]! - timestamps[b]! || a - b);
}

export function tollgateDetector(params: Partial<DetectorParams> = {}, hysteresis: EvalHysteresis = {}): NabDetector {
  return {
    name: 'tollgate',
    threshold: detectorParams(params).threshold,
    run(series, threshold) {
      const order = timeOrder(series.timestamps);
      const bucketMs = inferBucketMs(series.timestamps);
      const scored = scoreSeries({
        history: [],
        buckets: order.map((i) => ({ t: series.timestamps[i]!, value: series.values[i]! })),
        bucketMs,
        spec: { direction: 'both', spreadFloor: 0, minVolume: 0 },
        params: { ...params, threshold },
      });
      const rows = scored.map((s) => ({ score: s.score, anomalous: s.anomalous, judged: s.baseline !== 'none' && !s.gated }));
      const inTimeOrder = openings(rows, hysteresisFor(meanStepMs(series.timestamps), hysteresis));
      const out = new Float64Array(order.length);
      order.forEach((row, k) => (out[row] = inTimeOrder[k]!));
      return out;
    },
  };
}

export function static3SigmaDetector(hysteresis: EvalHysteresis = {}): NabDetector {
  return {
    name: 'static3sigma',
    threshold: 0.5,
    run(series, threshold) {
      const n = Math.min(series.values.length, Math.max(2, Math.floor(probationaryLength(series.values.length))));
      const train = series.values.subarray(0, n);
      const mean = train.reduce((a, b) => a + b, 0) / n;
      const sd = Math.sqrt(train.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
      const rows = Array.from(series.values, (x, i) => {
        const z = sd > 0 ? (x - mean) / sd : x === mean ? 0 : Infinity;
        const score = scoreOf(Math.abs(z), 3);
        return { score, anomalous: score >= threshold, judged: i >= n };
      });
      return openings(rows, hysteresisFor(meanStepMs(series.timestamps), hysteresis));
    },
  };
}

export const nabDetectorNames = ['tollgate', 'static3sigma'] as const;
export type NabDetectorName = (typeof nabDetectorNames)[number];

export function nabDetector(name: NabDetectorName): NabDetector {
  return name === 'tollgate' ? tollgateDetector() : static3SigmaDetector();
}
