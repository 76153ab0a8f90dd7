/**
 * Alerts: the tenant's alert feed (Postgres `alerts`). This module owns the table: the API
 * (list, acknowledge, resolve), the anomaly detector (open, update, resolve), the Grafana
 * receiver and other domains (e.g. dunning) all go through the functions exported here.
 *
 * Soft-threshold crossings from admission control become alerts, one per (meter, threshold,
 * period): admission already fires each crossing once per process, and the dedup key makes
 * replicas and retries collapse into one row.
 */
import type { QuotaNotification } from '../quotas/index.js';
import { withPlatform, withTenant, type PgPools } from '../db/index.js';
import { upsertAlert, type AlertRow, type AlertUpsert } from './repo.js';

export { receiveGrafanaWebhook, type GrafanaReceiverSettings, type ReceiverResult } from './grafana.js';
export { alertCarriesMoney, alertExplanation, withoutMoney } from './money.js';
export { alertsPage, transitionAlert, upsertAlert, resolveAlertByKey, liveAlert, type AlertRow, type AlertUpsert } from './repo.js';

/**
 * Opens (or refreshes) a live alert in its own tenant transaction — the general entry point for
 * other domains (billing's dunning, budgets): one live alert per (tenant, dedupKey).
 */
export async function recordAlert(deps: { pools: Pick<PgPools, 'app'> }, a: AlertUpsert): Promise<{ alert: AlertRow; opened: boolean }> {
  return withTenant(deps.pools.app, { tenantId: a.tenantId }, (c) => upsertAlert(c, a));
}

export function quotaAlertDedupKey(n: QuotaNotification): string {
  const scope = n.apiKeyId ? `key:${n.apiKeyId}` : 'tenant';
  return `quota:${scope}:${n.meter}:${n.threshold}:${n.periodStart.toISOString()}`;
}

/** Opens (or refreshes) the tenant's `quota_threshold` alert for this crossing. */
export async function recordQuotaAlert(deps: { pools: Pick<PgPools, 'app'> }, n: QuotaNotification): Promise<void> {
  const severity = n.threshold >= 100 ? 'critical' : 'warning';
  const title = `${n.meter} at ${n.threshold}% of the ${n.hard ? 'hard' : 'soft'} quota (${n.used} of ${n.limit})`;
  await withTenant(deps.pools.app, { tenantId: n.tenantId }, (client) =>
    client.query(
      `INSERT INTO alerts (tenant_id, kind, metric, severity, dedup_key, title, details)
       VALUES ($1, 'quota_threshold', $2, $3, $4, $5, $6)
       ON CONFLICT (tenant_id, dedup_key) WHERE status <> 'resolved' DO UPDATE
         SET details = EXCLUDED.details, updated_at = now()`,
      [n.tenantId, n.meter, severity, quotaAlertDedupKey(n), title, JSON.stringify({ ...n, periodStart: n.periodStart.toISOString(), periodEnd: n.periodEnd.toISOString() })],
    ),
  );
}

/** Live (open or acknowledged) alerts across every tenant, by status and severity: operators' `tollgate status`. */
export async function liveAlertCounts(deps: { pools: Pick<PgPools, 'app'> }): Promise<Array<{ status: string; severity: string; count: number }>> {
  return withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query<{ status: string; severity: string; count: number }>(
      `SELECT status, severity, count(*)::int AS count FROM alerts WHERE status <> 'resolved' GROUP BY status, severity ORDER BY status, severity`,
    );
    return rows;
  });
}
