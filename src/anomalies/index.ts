/**
 * Anomaly detection: the pure detector core (robust seasonal baseline, band, score), alert
 * hysteresis, explanations, the metric definitions, and the NAB evaluation (scorer + eval).
 * The detector job, GraphQL and the CLI enter here.
 */
export type { Bucket, BaselineKind, Direction, MetricSpec, ScoredBucket } from './types.js';
export { scoreSeries, historyNeededMs, scoreOf, detectorVersion, type ScoreSeriesInput } from './detector.js';
export { defaultParams, detectorParams, type DetectorParams, type Season } from './params.js';
export { stepAlert, runAlerts, hysteresisFor, closedState, defaultOpenAfter, defaultResolveAfterMs, type AlertState, type HysteresisParams, type Transition } from './hysteresis.js';
export { explainBucket, formatValue, type ExplainInput, type ValueFormat } from './explain.js';
export { anomalyMetrics, metricDefinitions, type AnomalyMetric, type MetricDefinition } from './metrics.js';
export { inferBucketMs } from './series.js';
export { runNabEval, type EvalOptions, type EvalReport, type EvalFile } from './nab/eval.js';
export { nabDetector, nabDetectorNames, type NabDetectorName } from './nab/detectors.js';
export { nabProfiles, nabProfileNames, type NabProfileName, type CostProfile } from './nab/profiles.js';
export { scoreFile, scaledSigmoid, probationaryLength, type NabWindow, type FileScore } from './nab/sweeper.js';
export { readWindows, readSeries, readScores, listDataFiles } from './nab/corpus.js';
