/**
 * Alerts as seen and changed through the API (the anomaly job and Grafana webhooks open them).
 * Changes run in the caller's scoped transaction with their audit row (same commit).
 */
import type pg from 'pg';
import { recordAudit, auditFrom, type Actor } from '../audit/index.js';
import { AppError, notFound } from '../shared/index.js';

export interface AlertRow {
  id: string;
  tenantId: string | null;
  kind: string;
  metric: string;
  severity: string;
  status: string;
  source: string;
  title: string;
  details: unknown;
  openedAt: Date;
  updatedAt: Date;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
}

const COLS = 'id, tenant_id, kind, metric, severity, status, source, title, details, opened_at, updated_at, acknowledged_at, acknowledged_by, resolved_at';

function alertRow(r: Record<string, unknown>): AlertRow {
  return {
    id: String(r.id),
    tenantId: (r.tenant_id as string | null) ?? null,
    kind: String(r.kind),
    metric: String(r.metric),
    severity: String(r.severity),
    status: String(r.status),
    source: String(r.source),
    title: String(r.title),
    details: r.details,
    openedAt: r.opened_at as Date,
    updatedAt: r.updated_at as Date,
    acknowledgedAt: (r.acknowledged_at as Date | null) ?? null,
    acknowledgedBy: (r.acknowledged_by as string | null) ?? null,
    resolvedAt: (r.resolved_at as Date | null) ?? null,
  };
}

/** A page of a tenant's alerts, newest first, keyset on (opened_at, id). */
export async function alertsPage(
  c: pg.ClientBase,
  q: { tenantId: string; status: string | null; limit: number; after: { openedAt: string; id: string } | null },
): Promise<Array<AlertRow & { cursorTs: string }>> {
  const { rows } = await c.query(
    `SELECT ${COLS}, to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts FROM alerts
     WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
       AND ($3::timestamptz IS NULL OR (opened_at, id) < ($3::timestamptz, $4::uuid))
     ORDER BY opened_at DESC, id DESC LIMIT $5`,
    [q.tenantId, q.status, q.after?.openedAt ?? null, q.after?.id ?? null, q.limit + 1],
  );
  return rows.map((r) => ({ ...alertRow(r), cursorTs: String(r.cursor_ts) }));
}

/**
 * Moves an alert of the tenant to `acknowledged` or `resolved` (audited). Acknowledging a
 * resolved alert is refused; repeating a transition is a no-op that is still audited.
 */
export async function transitionAlert(c: pg.ClientBase, q: { tenantId: string; id: string; to: 'acknowledged' | 'resolved'; actor: Actor }): Promise<AlertRow> {
  const { rows: cur } = await c.query(`SELECT ${COLS} FROM alerts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [q.tenantId, q.id]);
  if (!cur[0]) throw notFound('alert not found');
  const before = alertRow(cur[0]);
  if (q.to === 'acknowledged' && before.status === 'resolved') throw new AppError('CONFLICT', 'alert is already resolved');
  let after = before;
  if (before.status !== q.to) {
    const by = `${q.actor.type}:${q.actor.id}`;
    const { rows } = await c.query(
      q.to === 'acknowledged'
        ? `UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2, updated_at = now() WHERE id = $1 RETURNING ${COLS}`
        : `UPDATE alerts SET status = 'resolved', resolved_at = now(), acknowledged_by = COALESCE(acknowledged_by, $2), updated_at = now() WHERE id = $1 RETURNING ${COLS}`,
      [q.id, by],
    );
    after = alertRow(rows[0]!);
  }
  await recordAudit(c, auditFrom(q.actor, { tenantId: q.tenantId, action: q.to === 'acknowledged' ? 'alert.acknowledge' : 'alert.resolve', targetType: 'alert', targetId: q.id, before, after }));
  return after;
}

/** What opens (or refreshes) a live alert. `dedupKey` names the incident: one live alert per (tenant, dedupKey). */
export interface AlertUpsert {
  tenantId: string;
  kind: string;
  metric: string;
  severity: 'info' | 'warning' | 'critical';
  source?: 'tollgate' | 'grafana';
  dedupKey: string;
  title: string;
  details: unknown;
  /** When the incident began, if not now (the detector scoring history opens alerts at the bucket's time). */
  openedAt?: Date;
}

/**
 * Opens the tenant's live alert for `dedupKey`, or refreshes its title, severity and details when
 * one is already open or acknowledged. `opened` tells which (the caller notifies only on opening).
 */
export async function upsertAlert(c: pg.ClientBase, a: AlertUpsert): Promise<{ alert: AlertRow; opened: boolean }> {
  const { rows } = await c.query(
    `INSERT INTO alerts (tenant_id, kind, metric, severity, source, dedup_key, title, details, opened_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9::timestamptz, now()))
     ON CONFLICT (tenant_id, dedup_key) WHERE status <> 'resolved' DO UPDATE
       SET title = EXCLUDED.title, severity = EXCLUDED.severity, details = EXCLUDED.details, updated_at = now()
     RETURNING ${COLS}, (xmax = 0) AS inserted`,
    [a.tenantId, a.kind, a.metric, a.severity, a.source ?? 'tollgate', a.dedupKey, a.title, JSON.stringify(a.details ?? {}), a.openedAt ?? null],
  );
  const r = rows[0]!;
  return { alert: alertRow(r), opened: r.inserted === true };
}

/**
 * Resolves the tenant's live alert for `dedupKey` (by the system that opened it, not a person):
 * merges `details` into the alert's details. Returns null when nothing was live.
 */
export async function resolveAlertByKey(
  c: pg.ClientBase,
  q: { tenantId: string; dedupKey: string; details?: Record<string, unknown>; resolvedBy?: string; resolvedAt?: Date },
): Promise<AlertRow | null> {
  // resolved_at never precedes opened_at (a resolution time from history is clamped to it)
  const { rows } = await c.query(
    `UPDATE alerts SET status = 'resolved', resolved_at = GREATEST(opened_at, COALESCE($5::timestamptz, now())), updated_at = now(), details = details || $3::jsonb,
            acknowledged_by = COALESCE(acknowledged_by, $4)
     WHERE tenant_id = $1 AND dedup_key = $2 AND status <> 'resolved' RETURNING ${COLS}`,
    [q.tenantId, q.dedupKey, JSON.stringify(q.details ?? {}), q.resolvedBy ?? null, q.resolvedAt ?? null],
  );
  return rows[0] ? alertRow(rows[0]) : null;
}

/** The tenant's live (open or acknowledged) alert for `dedupKey`, if any. */
export async function liveAlert(c: pg.ClientBase, q: { tenantId: string; dedupKey: string }): Promise<AlertRow | null> {
  const { rows } = await c.query(`SELECT ${COLS} FROM alerts WHERE tenant_id = $1 AND dedup_key = $2 AND status <> 'resolved'`, [q.tenantId, q.dedupKey]);
  return rows[0] ? alertRow(rows[0]) : null;
}
