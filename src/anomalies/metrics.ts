/**
 * The product's anomaly metrics and how each is judged: which direction matters, the least
 * spread that counts as noise, and how much traffic a bucket needs before its ratio means
 * anything. One definition, used by the detector job, the explanations and the alerts.
 */
import type { ValueFormat } from './explain.js';
import type { MetricSpec } from './types.js';

export const anomalyMetrics = ['requests', 'error_ratio', 'latency_p95', 'spend', 'quota_burn'] as const;
export type AnomalyMetric = (typeof anomalyMetrics)[number];

export interface MetricDefinition extends MetricSpec {
  /** What the explanation calls it ("errors 12.4 % vs expected …"). */
  readonly label: string;
  readonly format: ValueFormat;
}

export const metricDefinitions: Readonly<Record<AnomalyMetric, MetricDefinition>> = {
  // a surge (runaway client, leaked key) and an outage drop both matter
  requests: { label: 'requests', format: 'count', direction: 'both', spreadFloor: 1, minVolume: 0 },
  // a drop in errors is good news; floors are σ-like (the band is 6× wider): errors never alert inside ±0.6 points; 20 requests to judge a ratio
  error_ratio: { label: 'errors', format: 'ratio', direction: 'up', spreadFloor: 0.001, minVolume: 20 },
  // slower is the alert; a few ms of jitter is not
  latency_p95: { label: 'p95 latency', format: 'ms', direction: 'up', spreadFloor: 2, minVolume: 20 },
  // spend per bucket in currency micros: overspending alerts, a quiet hour does not
  spend: { label: 'spend', format: { currency: 'USD', micros: true }, direction: 'up', spreadFloor: 1_000, minVolume: 0 },
  // share of the period's quota used per bucket
  quota_burn: { label: 'quota burn', format: 'ratio', direction: 'up', spreadFloor: 0.0005, minVolume: 0 },
};
