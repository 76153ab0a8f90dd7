/**
 * One detector pass: for each tenant, every hourly bucket not yet scored (history included)
 * of each metric — tenant-wide, and per model for the tenant's busiest models — is scored
 * against its own past, written to `anomaly_scores_v1`, and run through the alert
 * hysteresis; alerts open, refresh and resolve in the tenant's feed (src/alerts).
 *
 * Idempotent: the series' state (scored-through time, hysteresis) and its alerts change in
 * one Postgres transaction per tenant under a per-tenant lock. Scores go to ClickHouse first;
 * a crash before the commit makes the next pass score the same buckets again, and since
 * scoring is deterministic the re-written rows are equal (ReplacingMergeTree keeps one).
 */
import type { ClickHouse } from '../clickhouse/index.js';
import { withTenant, type PgPools } from '../db/index.js';
import { notFound, type Logger } from '../shared/index.js';
import { resolveAlertByKey, upsertAlert } from '../alerts/index.js';
import { getEffectiveLimits, getPriceComponents } from '../plans/index.js';
import { isMeter, meters, type Meter } from '../metering/index.js';
import { getTenant, listTenants } from '../tenants/index.js';
import { priceComponentFromRow, PRICE_SCALE, type PriceComponent } from '../billing/index.js';
import {
  anomalyMetrics,
  closedState,
  detectorVersion,
  explainBucket,
  historyNeededMs,
  hysteresisFor,
  metricDefinitions,
  scoreSeries,
  stepAlert,
  type AnomalyMetric,
  type Bucket,
  type ScoredBucket,
} from '../anomalies/index.js';
import { BUCKET_MS, metricSeries, modelActivity, readRollups, writeScores, type Pricing, type RollupBucket, type ScoreRow } from './series.js';
import { lockTenantScan, readStates, seriesKey, writeState, type SeriesState } from './state.js';

export interface AnomalyScanDeps {
  clickhouse: ClickHouse;
  pools: Pick<PgPools, 'app'>;
  logger?: Logger;
}

export interface AnomalyScanOptions {
  /** Only this tenant (default: every tenant). */
  tenantId?: string;
  /** Buckets ending at or before this instant are scored (default: now − settleMs). */
  until?: Date;
  /** How long a bucket is left to settle before it is scored (default 5 min); ignored with `until`. */
  settleMs?: number;
  /** Models with series of their own besides the tenant-wide ones (the busiest of the last 7 days; default 3). */
  topModels?: number;
  now?: number;
}

/** An alert the pass opened or resolved. `bucket` is the hour that decided it. */
export interface AlertTransition {
  tenantId: string;
  alertId: string;
  metric: AnomalyMetric;
  /** '' = the whole tenant. */
  model: string;
  bucket: string;
  explanation: string;
}

export interface AnomalyScanResult {
  /** Buckets scored (written to anomaly_scores_v1); buckets without a baseline yet are not counted. */
  scored: number;
  opened: AlertTransition[];
  resolved: AlertTransition[];
}

/** One live alert per (tenant, metric, model): the alert feed's dedup key for the detector. */
export function anomalyAlertDedupKey(metric: AnomalyMetric, model: string): string {
  return `anomaly:${metric}:${model}`;
}

/** Metrics judged per model; quotas and their burn are the tenant's. */
const perModelMetrics: readonly AnomalyMetric[] = ['requests', 'error_ratio', 'latency_p95', 'spend'];
const RECENT_MS = 7 * 24 * BUCKET_MS;

export async function runAnomalyScan(deps: AnomalyScanDeps, opts: AnomalyScanOptions = {}): Promise<AnomalyScanResult> {
  const now = opts.now ?? Date.now();
  const until = opts.until ?? new Date(now - (opts.settleMs ?? 5 * 60_000));
  const result: AnomalyScanResult = { scored: 0, opened: [], resolved: [] };
  const tenants: Array<{ id: string; timezone: string }> = [];
  if (opts.tenantId) {
    const t = await getTenant(deps, { tenantId: opts.tenantId });
    if (!t) throw notFound(`tenant ${opts.tenantId} not found`);
    tenants.push(t);
  } else {
    let after: string | undefined;
    for (;;) {
      const page = await listTenants(deps, { limit: 1000, after });
      tenants.push(...page);
      if (page.length < 1000) break;
      after = page.at(-1)!.id;
    }
  }
  for (const t of tenants) {
    try {
      const r = await scanTenant(deps, { tenantId: t.id, timeZone: t.timezone, until, topModels: opts.topModels ?? 3 });
      result.scored += r.scored;
      result.opened.push(...r.opened);
      result.resolved.push(...r.resolved);
    } catch (err) {
      // one tenant's failure must not starve the others; its buckets stay unscored for the next pass
      if (opts.tenantId) throw err;
      deps.logger?.error({ err, tenantId: t.id }, 'anomaly scan failed for a tenant');
    }
  }
  return result;
}

/** The plan's list prices per unit (first paid tier for tiered models; no included quantity) and monthly quotas. */
async function tenantPricing(deps: AnomalyScanDeps, tenantId: string, at: Date): Promise<Pricing> {
  const limits = await getEffectiveLimits(deps, { tenantId, at });
  if (!limits) return { rates: null, limits: {} };
  const components = (await getPriceComponents(deps, { planId: limits.planId, at })).map((r) => priceComponentFromRow(r as unknown as Record<string, unknown>));
  const rates: Partial<Record<Meter, number>> = {};
  for (const c of components) if (isMeter(c.meter)) rates[c.meter] = unitRate(c);
  const quotas: Partial<Record<Meter, number>> = {};
  for (const m of meters) {
    const limit = limits.tenant.quotas.find((q) => q.meter === m)?.limit;
    if (limit !== undefined && Number.isFinite(limit) && limit > 0) quotas[m] = limit; // Infinity: unlimited
  }
  return { rates: components.length ? rates : null, limits: quotas };
}

/** Micros per unit at list price: spend anomalies follow usage, not where the month's tiers or allowance stand. */
function unitRate(c: PriceComponent): number {
  const scale = Number(PRICE_SCALE);
  switch (c.model) {
    case 'standard':
      return Number(c.unitPrice) / scale;
    case 'package':
      return Number(c.unitPrice) / scale / Number(c.packageSize > 0n ? c.packageSize : 1n);
    case 'graduated':
    case 'volume':
      // the first paid tier: a free first tier would make a tenant's spend look like zero
      return Number(c.tiers.find((t) => t.unitPrice > 0n)?.unitPrice ?? 0n) / scale;
  }
}

interface Dimension {
  model: string;
  firstMs: number;
  metrics: readonly AnomalyMetric[];
}

async function scanTenant(deps: AnomalyScanDeps, q: { tenantId: string; timeZone: string; until: Date; topModels: number }): Promise<AnomalyScanResult> {
  const endMs = Math.floor(q.until.getTime() / BUCKET_MS) * BUCKET_MS;
  const activity = await modelActivity(deps.clickhouse, { tenantId: q.tenantId, until: new Date(endMs), recentFrom: new Date(endMs - RECENT_MS) });
  const out: AnomalyScanResult = { scored: 0, opened: [], resolved: [] };
  if (activity.length === 0) return out;
  const dims: Dimension[] = [{ model: '', firstMs: Math.min(...activity.map((a) => a.firstMs)), metrics: anomalyMetrics }];
  // A tenant with one model would get the same alert twice: per-model series only when there are several.
  if (activity.length > 1) {
    const top = activity
      .filter((a) => a.recentRequests > 0)
      .sort((a, b) => b.recentRequests - a.recentRequests || a.model.localeCompare(b.model))
      .slice(0, q.topModels);
    for (const a of top) dims.push({ model: a.model, firstMs: a.firstMs, metrics: perModelMetrics });
  }
  const pricing = await tenantPricing(deps, q.tenantId, new Date(endMs));
  const hysteresis = hysteresisFor(BUCKET_MS);
  const needed = historyNeededMs(BUCKET_MS);

  return withTenant(deps.pools.app, { tenantId: q.tenantId }, async (c) => {
    await lockTenantScan(c, q.tenantId);
    const states = await readStates(c, q.tenantId);
    for (const dim of dims) {
      const starts = dim.metrics.map((m) => states.get(seriesKey(m, dim.model))?.scoredThroughMs ?? dim.firstMs);
      const firstNew = Math.min(...starts);
      if (firstNew >= endMs) continue;
      const readFrom = Math.max(dim.firstMs, firstNew - needed);
      const rollups: Map<number, RollupBucket> = await readRollups(deps.clickhouse, { tenantId: q.tenantId, model: dim.model || null, from: new Date(readFrom), to: new Date(endMs) });
      const series = metricSeries(rollups, readFrom, endMs, pricing);
      const rows: ScoreRow[] = [];
      const states2: SeriesState[] = [];
      const transitions: Array<() => Promise<void>> = [];
      dim.metrics.forEach((metric, i) => {
        const all = series[metric];
        if (all.length === 0) return; // no price or quota: nothing to judge
        const start = starts[i]!;
        if (start >= endMs) return;
        const split = lowerBound(all, start);
        const history = all.slice(lowerBound(all, start - needed), split);
        const scored = scoreSeries({ history, buckets: all.slice(split), spec: metricDefinitions[metric], bucketMs: BUCKET_MS });
        let alert = states.get(seriesKey(metric, dim.model))?.alert ?? closedState;
        for (const b of scored) {
          if (b.baseline !== 'none') {
            rows.push({ tenant_id: q.tenantId, metric, dimension: dim.model, bucket: b.t / 1000, value: b.value, baseline: b.expected, spread: b.upper - b.expected, score: b.score, is_anomaly: b.anomalous ? 1 : 0, detector: detectorVersion });
          }
          const step = stepAlert(alert, { anomalous: b.anomalous, judged: b.baseline !== 'none' && !b.gated }, hysteresis);
          alert = step.state;
          if (step.transition === 'opened' || (alert.open && b.anomalous)) {
            const opening = step.transition === 'opened';
            transitions.push(() => openOrRefresh(c, out, { tenantId: q.tenantId, timeZone: q.timeZone, metric, model: dim.model, bucket: b, opening }));
          } else if (step.transition === 'resolved') {
            transitions.push(() => resolve(c, out, { tenantId: q.tenantId, timeZone: q.timeZone, metric, model: dim.model, bucket: b }));
          }
        }
        states2.push({ metric, model: dim.model, scoredThroughMs: endMs, alert });
      });
      // scores first: if the commit below fails, the next pass rewrites the same rows
      await writeScores(deps.clickhouse, rows);
      out.scored += rows.length;
      for (const t of transitions) await t();
      for (const s of states2) await writeState(c, q.tenantId, s, BUCKET_MS / 1000);
    }
    return out;
  });
}

/** Index of the first bucket at or after t (buckets are in time order). */
function lowerBound(buckets: readonly Bucket[], t: number): number {
  let lo = 0;
  let hi = buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (buckets[mid]!.t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface TransitionInput {
  tenantId: string;
  timeZone: string;
  metric: AnomalyMetric;
  model: string;
  bucket: ScoredBucket;
}

function explanation(i: TransitionInput): string {
  const def = metricDefinitions[i.metric];
  const sentence = explainBucket({ label: def.label, format: def.format, bucket: i.bucket, bucketMs: BUCKET_MS, timeZone: i.timeZone });
  return i.model ? `${i.model}: ${sentence}` : sentence;
}

type Client = Parameters<typeof upsertAlert>[0];

async function openOrRefresh(c: Client, out: AnomalyScanResult, i: TransitionInput & { opening: boolean }): Promise<void> {
  const text = explanation(i);
  const b = i.bucket;
  const bucketEnd = new Date(b.t + BUCKET_MS);
  const { alert, opened } = await upsertAlert(c, {
    tenantId: i.tenantId,
    kind: 'anomaly',
    metric: i.metric,
    // far outside the band (score ≥ 0.9: three band half-widths away) is critical
    severity: b.score >= 0.9 ? 'critical' : 'warning',
    dedupKey: anomalyAlertDedupKey(i.metric, i.model),
    title: text,
    details: {
      explanation: text,
      metric: i.metric,
      model: i.model,
      bucket: new Date(b.t).toISOString(),
      value: b.value,
      expected: b.expected,
      lower: b.lower,
      upper: b.upper,
      score: b.score,
      baseline: b.baseline,
      detector: detectorVersion,
    },
    // detected when the bucket closed: scoring history replays the alert at that time
    ...(i.opening ? { openedAt: bucketEnd } : {}),
  });
  if (opened) out.opened.push({ tenantId: i.tenantId, alertId: alert.id, metric: i.metric, model: i.model, bucket: new Date(b.t).toISOString(), explanation: text });
}

async function resolve(c: Client, out: AnomalyScanResult, i: TransitionInput): Promise<void> {
  const text = explanation(i);
  const b = i.bucket;
  const alert = await resolveAlertByKey(c, {
    tenantId: i.tenantId,
    dedupKey: anomalyAlertDedupKey(i.metric, i.model),
    details: { resolvedBucket: new Date(b.t).toISOString(), resolvedExplanation: text },
    resolvedBy: 'system:anomaly-detector',
    resolvedAt: new Date(b.t + BUCKET_MS),
  });
  if (alert) out.resolved.push({ tenantId: i.tenantId, alertId: alert.id, metric: i.metric, model: i.model, bucket: new Date(b.t).toISOString(), explanation: text });
}
