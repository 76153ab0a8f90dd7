/** Per-series detector state in Postgres (`anomaly_series_state`, migration 011), read and written in the scan's tenant transaction. */
import type pg from 'pg';
import type { AlertState, AnomalyMetric } from '../anomalies/index.js';

export interface SeriesState {
  metric: AnomalyMetric;
  /** '' = the whole tenant. */
  model: string;
  /** End of the last scored bucket (ms): the next scan scores from here. */
  scoredThroughMs: number;
  alert: AlertState;
}

export function seriesKey(metric: string, model: string): string {
  return `${metric}\u0000${model}`;
}

/**
 * Serialises scans of one tenant (the worker's job on several replicas, an operator's CLI run):
 * the second waits, then finds the buckets already scored.
 */
export async function lockTenantScan(c: pg.ClientBase, tenantId: string): Promise<void> {
  await c.query(`SELECT pg_advisory_xact_lock(hashtext('tollgate.anomaly-scan'), hashtext($1))`, [tenantId]);
}

export async function readStates(c: pg.ClientBase, tenantId: string): Promise<Map<string, SeriesState>> {
  const { rows } = await c.query<{ metric: AnomalyMetric; model: string; through: string; alert_open: boolean; run: number }>(
    `SELECT metric, model, (extract(epoch FROM scored_through) * 1000)::bigint::text AS through, alert_open, run FROM anomaly_series_state WHERE tenant_id = $1`,
    [tenantId],
  );
  return new Map(rows.map((r) => [seriesKey(r.metric, r.model), { metric: r.metric, model: r.model, scoredThroughMs: Number(r.through), alert: { open: r.alert_open, run: r.run } }]));
}

export async function writeState(c: pg.ClientBase, tenantId: string, s: SeriesState, bucketSeconds: number): Promise<void> {
  await c.query(
    `INSERT INTO anomaly_series_state (tenant_id, metric, model, bucket_seconds, scored_through, alert_open, run)
     VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000), $6, $7)
     ON CONFLICT (tenant_id, metric, model) DO UPDATE
       SET bucket_seconds = EXCLUDED.bucket_seconds, scored_through = EXCLUDED.scored_through, alert_open = EXCLUDED.alert_open, run = EXCLUDED.run, updated_at = now()`,
    [tenantId, s.metric, s.model, bucketSeconds, s.scoredThroughMs, s.alert.open, s.alert.run],
  );
}
