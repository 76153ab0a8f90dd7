/**
 * The detectors `tollgate anomaly eval` can run over a NAB series. Each turns a series into
 * NAB's per-row anomaly_score; a row is a detection when its score ≥ the threshold.
 * - `tollgate`: the product's detector (../detector.ts) and alert hysteresis: a row scores its
 *   bucket's score where an alert opens and 0 elsewhere, i.e. NAB counts what a person would be
 *   notified of, once per incident.
 * - `static3sigma`: the textbook baseline: mean and standard deviation of the series' first
 *   15 % (NAB's probationary, learning period) fixed for good, anomalous beyond 3σ, with the
 *   same hysteresis, so the comparison isolates the baseline itself.
 */
import { scoreSeries } from '../detector.js';
import { runAlerts, type HysteresisParams } from '../hysteresis.js';
import { detectorParams, type DetectorParams } from '../params.js';
import { inferBucketMs } from '../series.js';
import { scoreOf } from '../detector.js';
import type { NabSeries } from './corpus.js';
import { probationaryLength } from './sweeper.js';

export interface NabDetector {
  readonly name: string;
  /** The detector's own fixed threshold (what --threshold overrides). */
  readonly threshold: number;
  run(series: NabSeries, threshold: number): Float64Array;
}

/**
 * The hysteresis the eval applies, in time so that it means the same for 5-minute and hourly
 * series: open at once (NAB rewards early detection), resolve after a quiet spell.
 */
export interface EvalHysteresis {
  readonly openAfter: number;
  readonly resolveAfterMs: number;
}

export const evalHysteresis: EvalHysteresis = { openAfter: 1, resolveAfterMs: 8 * 3_600_000 };

function inBuckets(h: EvalHysteresis, bucketMs: number): HysteresisParams {
  return { openAfter: h.openAfter, resolveAfter: Math.max(1, Math.round(h.resolveAfterMs / bucketMs)) };
}

function openings(judged: readonly { score: number; anomalous: boolean; judged: boolean }[], hysteresis: HysteresisParams): Float64Array {
  const { transitions } = runAlerts(judged, hysteresis);
  return Float64Array.from(judged, (b, i) => (transitions[i] === 'opened' ? b.score : 0));
}

export function tollgateDetector(params: Partial<DetectorParams> = {}, hysteresis: EvalHysteresis = evalHysteresis): NabDetector {
  const p = detectorParams(params);
  return {
    name: 'tollgate',
    threshold: p.threshold,
    run(series, threshold) {
      // The detector takes buckets in time order; a few NAB files hold out-of-order rows
      // (a repeated hour): score in time order (stable), answer in file order.
      const order = series.timestamps.map((_, i) => i).sort((a, b) => series.timestamps[a]! - series.timestamps[b]! || a - b);
      const bucketMs = inferBucketMs(series.timestamps);
      const scored = scoreSeries({
        history: [],
        buckets: order.map((i) => ({ t: series.timestamps[i]!, value: series.values[i]! })),
        bucketMs,
        spec: { direction: 'both', spreadFloor: 0, minVolume: 0 },
        params: { ...params, threshold },
      });
      const inTimeOrder = openings(scored.map((s) => ({ score: s.score, anomalous: s.anomalous, judged: s.baseline !== 'none' && !s.gated })), inBuckets(hysteresis, bucketMs));
      const out = new Float64Array(order.length);
      order.forEach((row, k) => (out[row] = inTimeOrder[k]!));
      return out;
    },
  };
}

export function static3SigmaDetector(hysteresis: EvalHysteresis = evalHysteresis): NabDetector {
  return {
    name: 'static3sigma',
    threshold: 0.5,
    run(series, threshold) {
      const n = Math.max(2, Math.floor(probationaryLength(series.values.length)));
      const train = series.values.subarray(0, Math.min(n, series.values.length));
      const mean = train.reduce((a, b) => a + b, 0) / train.length;
      const sd = Math.sqrt(train.reduce((a, b) => a + (b - mean) ** 2, 0) / train.length);
      const rows = Array.from(series.values, (x, i) => {
        const z = sd > 0 ? (x - mean) / sd : x === mean ? 0 : Infinity;
        const score = scoreOf(Math.abs(z), 3);
        return { score, anomalous: score >= threshold, judged: i >= train.length };
      });
      return openings(rows, inBuckets(hysteresis, inferBucketMs(series.timestamps)));
    },
  };
}

export const nabDetectorNames = ['tollgate', 'static3sigma'] as const;
export type NabDetectorName = (typeof nabDetectorNames)[number];

export function nabDetector(name: NabDetectorName): NabDetector {
  return name === 'tollgate' ? tollgateDetector() : static3SigmaDetector();
}
