/**
 * The anomaly detector job: hourly rollups (ClickHouse) → scores (`anomaly_scores_v1`) →
 * alerts (src/alerts), per tenant and per busy model. The worker role runs `runAnomalyScan`
 * as a repeatable job; `tollgate anomaly scan` runs the same pass; GraphQL reads the scores.
 */
export { runAnomalyScan, anomalyAlertDedupKey, type AnomalyScanDeps, type AnomalyScanOptions, type AnomalyScanResult, type AlertTransition } from './scan.js';
export { readScores, BUCKET_MS, type ScorePoint } from './series.js';
