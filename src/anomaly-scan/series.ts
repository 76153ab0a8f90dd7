/**
 * The detector's input: a tenant's hourly rollups (sums and latency states) turned into one
 * dense series per metric, and its output rows for `anomaly_scores_v1`. Only SQL both
 * ClickHouse 18.16 and current ClickHouse accept (no window functions, no query parameters).
 */
import { empty, sql, tables, type ClickHouse } from '../clickhouse/index.js';
import type { AnomalyMetric, Bucket } from '../anomalies/index.js';
import { meterDefinitions, meters, unitsOfRollup, type Meter } from '../metering/index.js';

/** The rollup the detector scores: hourly buckets. */
export const BUCKET_MS = 3_600_000;

/** One hour of one dimension (the whole tenant, or one model) as the rollups hold it. */
export interface RollupBucket {
  requests: number;
  errors: number;
  ok: number;
  /** p95 of queue + compute time of ok requests, ms (NaN when none ran). */
  p95Ms: number;
  /** Use of each billing meter in its limit/price unit (the meter registry reads the rollup). */
  meterUse: Record<Meter, number>;
}

/** A tenant's models with their first bucket (ms) and recent request count, for choosing whom to watch. */
export interface ModelActivity {
  model: string;
  firstMs: number;
  recentRequests: number;
}

export async function modelActivity(ch: ClickHouse, q: { tenantId: string; until: Date; recentFrom: Date }): Promise<ModelActivity[]> {
  const rows = await ch.query<{ model: string; first: string | number; recent: string | number }>(sql`
    SELECT model, toUnixTimestamp(min(bucket)) AS first, sumIf(requests, bucket >= ${q.recentFrom}) AS recent
    FROM usage_hourly_v1
    WHERE tenant_id = ${q.tenantId} AND bucket < ${q.until}
    GROUP BY model`);
  return rows.map((r) => ({ model: r.model, firstMs: Number(r.first) * 1000, recentRequests: Number(r.recent) }));
}

/** Hourly sums and p95 latency of the tenant (model null) or one model, keyed by bucket start (ms). */
export async function readRollups(ch: ClickHouse, q: { tenantId: string; model: string | null; from: Date; to: Date }): Promise<Map<number, RollupBucket>> {
  const byModel = q.model === null ? empty : sql`AND model = ${q.model}`;
  const where = sql`tenant_id = ${q.tenantId} AND bucket >= ${q.from} AND bucket < ${q.to} ${byModel}`;
  const [sums, latency] = await Promise.all([
    ch.query<Record<string, string | number>>(sql`
      SELECT toUnixTimestamp(bucket) AS t, device, sum(requests) AS requests, sum(error_requests) AS errors, sum(ok_requests) AS ok,
             sum(ok_items) AS ok_items, sum(billed_compute_us) AS billed_compute_us
      FROM usage_hourly_v1 WHERE ${where}
      GROUP BY bucket, device`),
    ch.query<{ t: string | number; p95: string | number | null }>(sql`
      SELECT toUnixTimestamp(bucket) AS t, quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_us)[3] AS p95
      FROM usage_latency_hourly_v1 WHERE ${where}
      GROUP BY bucket`),
  ]);
  const out = new Map<number, RollupBucket>();
  for (const r of sums) {
    const t = Number(r.t) * 1000;
    let b = out.get(t);
    if (!b) out.set(t, (b = { requests: 0, errors: 0, ok: 0, p95Ms: NaN, meterUse: Object.fromEntries(meters.map((m) => [m, 0])) as Record<Meter, number> }));
    b.requests += Number(r.requests);
    b.errors += Number(r.errors);
    b.ok += Number(r.ok);
    const rollup = { okRequests: BigInt(r.ok ?? 0), okItems: BigInt(r.ok_items ?? 0), billedComputeUs: BigInt(r.billed_compute_us ?? 0), device: String(r.device) };
    for (const d of meterDefinitions) b.meterUse[d.name] += Number(unitsOfRollup(d, rollup)) / d.scale;
  }
  for (const r of latency) {
    const b = out.get(Number(r.t) * 1000);
    // a bucket whose requests all failed has an empty digest: no latency to judge (the quantiles level [3] is 0.95)
    if (b && b.ok > 0 && r.p95 !== null && Number.isFinite(Number(r.p95))) b.p95Ms = Number(r.p95) / 1000;
  }
  return out;
}

/** The plan's list price of each billing meter (micros per limit unit) and monthly quota limits. */
export interface Pricing {
  /** null: the tenant has no prices (no spend series). */
  rates: Partial<Record<Meter, number>> | null;
  /** Quota burn is the largest share of a monthly limit used per bucket (no limits: no series). */
  limits: Partial<Record<Meter, number>>;
}

/** Dense hourly series of every metric over [fromMs, toMs); hours without rows are zero traffic. */
export function metricSeries(rollups: ReadonlyMap<number, RollupBucket>, fromMs: number, toMs: number, pricing: Pricing): Record<AnomalyMetric, Bucket[]> {
  const out: Record<AnomalyMetric, Bucket[]> = { requests: [], error_ratio: [], latency_p95: [], spend: [], quota_burn: [] };
  const limited = meters.filter((m) => (pricing.limits[m] ?? 0) > 0);
  for (let t = fromMs; t < toMs; t += BUCKET_MS) {
    const b = rollups.get(t);
    const requests = b?.requests ?? 0;
    const ok = b?.ok ?? 0;
    const use = (m: Meter) => b?.meterUse[m] ?? 0;
    out.requests.push({ t, value: requests, volume: requests });
    out.error_ratio.push({ t, value: requests > 0 ? (b?.errors ?? 0) / requests : NaN, volume: requests });
    out.latency_p95.push({ t, value: b?.p95Ms ?? NaN, volume: ok });
    const rates = pricing.rates;
    if (rates) out.spend.push({ t, value: meters.reduce((sum, m) => sum + use(m) * (rates[m] ?? 0), 0), volume: ok });
    if (limited.length) out.quota_burn.push({ t, value: Math.max(...limited.map((m) => use(m) / pricing.limits[m]!)), volume: ok });
  }
  return out;
}

/** One `anomaly_scores_v1` row. `spread` holds the band's half-width: the band is baseline ± spread. */
export interface ScoreRow {
  tenant_id: string;
  metric: string;
  dimension: string;
  bucket: number;
  value: number;
  baseline: number;
  spread: number;
  score: number;
  is_anomaly: 0 | 1;
  detector: string;
}

const SCORE_COLUMNS = ['tenant_id', 'metric', 'dimension', 'bucket', 'value', 'baseline', 'spread', 'score', 'is_anomaly', 'detector'] as const;

export async function writeScores(ch: ClickHouse, rows: readonly ScoreRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 10_000) await ch.insert(tables.anomalyScores, rows.slice(i, i + 10_000), { columns: SCORE_COLUMNS });
}

/** A scored bucket read back for drawing: value and the expected band. */
export interface ScorePoint {
  bucket: Date;
  value: number;
  expected: number;
  lower: number;
  upper: number;
  score: number;
  anomalous: boolean;
}

/**
 * The scores of one series in [from, to), latest scoring of each bucket (ReplacingMergeTree
 * merges lazily, so argMax over scored_at picks the newest row without FINAL).
 */
export async function readScores(ch: ClickHouse, q: { tenantId: string; metric: AnomalyMetric; model: string; from: Date; to: Date; limit: number }): Promise<ScorePoint[]> {
  const rows = await ch.query<Record<string, string | number>>(sql`
    SELECT toUnixTimestamp(bucket) AS t, argMax(value, scored_at) AS v, argMax(baseline, scored_at) AS e, argMax(spread, scored_at) AS s,
           argMax(score, scored_at) AS sc, argMax(is_anomaly, scored_at) AS a
    FROM anomaly_scores_v1
    WHERE tenant_id = ${q.tenantId} AND metric = ${q.metric} AND dimension = ${q.model} AND bucket >= ${q.from} AND bucket < ${q.to}
    GROUP BY bucket ORDER BY bucket LIMIT ${q.limit}`);
  return rows.map((r) => {
    const expected = Number(r.e);
    const half = Number(r.s);
    return { bucket: new Date(Number(r.t) * 1000), value: Number(r.v), expected, lower: expected - half, upper: expected + half, score: Number(r.sc), anomalous: Number(r.a) === 1 };
  });
}
