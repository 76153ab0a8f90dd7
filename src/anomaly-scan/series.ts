/**
 * The detector's input: a tenant's hourly rollups (sums and latency states) turned into one
 * dense series per metric, and its output rows for `anomaly_scores_v1`. Only SQL both
 * ClickHouse 18.16 and current ClickHouse accept (no window functions, no query parameters).
 */
import { empty, sql, tables, type ClickHouse } from '../clickhouse/index.js';
import type { AnomalyMetric, Bucket } from '../anomalies/index.js';

/** The rollup the detector scores: hourly buckets. */
export const BUCKET_MS = 3_600_000;

/** One hour of one dimension (the whole tenant, or one model) as the rollups hold it. */
export interface RollupBucket {
  requests: number;
  errors: number;
  ok: number;
  okItems: number;
  cpuUs: number;
  cudaUs: number;
  /** p95 of queue + compute time of ok requests, ms (NaN when none ran). */
  p95Ms: number;
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
      SELECT toUnixTimestamp(bucket) AS t, sum(requests) AS requests, sum(error_requests) AS errors, sum(ok_requests) AS ok,
             sum(ok_items) AS ok_items, sumIf(billed_compute_us, device != 'cuda') AS cpu_us, sumIf(billed_compute_us, device = 'cuda') AS cuda_us
      FROM usage_hourly_v1 WHERE ${where}
      GROUP BY bucket`),
    ch.query<{ t: string | number; p95: string | number | null }>(sql`
      SELECT toUnixTimestamp(bucket) AS t, quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_us)[3] AS p95 -- the stored levels; [3] is 0.95
      FROM usage_latency_hourly_v1 WHERE ${where}
      GROUP BY bucket`),
  ]);
  const out = new Map<number, RollupBucket>();
  for (const r of sums) {
    out.set(Number(r.t) * 1000, {
      requests: Number(r.requests),
      errors: Number(r.errors),
      ok: Number(r.ok),
      okItems: Number(r.ok_items),
      cpuUs: Number(r.cpu_us),
      cudaUs: Number(r.cuda_us),
      p95Ms: NaN,
    });
  }
  for (const r of latency) {
    const b = out.get(Number(r.t) * 1000);
    // a bucket whose requests all failed has an empty digest: no latency to judge
    if (b && b.ok > 0 && r.p95 !== null && Number.isFinite(Number(r.p95))) b.p95Ms = Number(r.p95) / 1000;
  }
  return out;
}

/** Micros per unit of each billing meter (the plan's list price) and monthly quota limits. */
export interface Pricing {
  /** Micro-units of currency per unit: requests, items, compute ms on CPU, on CUDA. */
  rates: { requests: number; items: number; computeMsCpu: number; computeMsCuda: number } | null;
  /** Monthly limits per meter (null = no quota): quota burn is the largest share of one used per bucket. */
  limits: { requests: number | null; items: number | null; computeMsCpu: number | null; computeMsCuda: number | null };
}

/** Dense hourly series of every metric over [fromMs, toMs); hours without rows are zero traffic. */
export function metricSeries(rollups: ReadonlyMap<number, RollupBucket>, fromMs: number, toMs: number, pricing: Pricing): Record<AnomalyMetric, Bucket[]> {
  const out: Record<AnomalyMetric, Bucket[]> = { requests: [], error_ratio: [], latency_p95: [], spend: [], quota_burn: [] };
  for (let t = fromMs; t < toMs; t += BUCKET_MS) {
    const b = rollups.get(t);
    const requests = b?.requests ?? 0;
    const ok = b?.ok ?? 0;
    const cpuMs = (b?.cpuUs ?? 0) / 1000;
    const cudaMs = (b?.cudaUs ?? 0) / 1000;
    const items = b?.okItems ?? 0;
    out.requests.push({ t, value: requests, volume: requests });
    out.error_ratio.push({ t, value: requests > 0 ? (b?.errors ?? 0) / requests : NaN, volume: requests });
    out.latency_p95.push({ t, value: b?.p95Ms ?? NaN, volume: ok });
    const r = pricing.rates;
    if (r) out.spend.push({ t, value: ok * r.requests + items * r.items + cpuMs * r.computeMsCpu + cudaMs * r.computeMsCuda, volume: ok });
    const l = pricing.limits;
    const shares = [l.requests && ok / l.requests, l.items && items / l.items, l.computeMsCpu && cpuMs / l.computeMsCpu, l.computeMsCuda && cudaMs / l.computeMsCuda].filter(
      (x): x is number => typeof x === 'number' && Number.isFinite(x),
    );
    if (shares.length) out.quota_burn.push({ t, value: Math.max(...shares), volume: ok });
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
