/** Webhook endpoints and the delivery log (Postgres `webhook_endpoints` 004/011, `webhook_deliveries`, `webhook_attempts` 011). */
import type pg from 'pg';
import { recordAudit, auditFrom, type Actor } from '../audit/index.js';
import { badInput, notFound } from '../shared/index.js';
import { generateWebhookSecret } from './signing.js';

export const webhookEventTypes = ['alert.opened', 'alert.resolved', 'quota.threshold', 'webhook.test'] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** How long a rotated-out secret keeps signing (receivers switch within it). */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

export interface WebhookEndpoint {
  id: string;
  tenantId: string;
  url: string;
  events: string[];
  active: boolean;
  description: string;
  disabledReason: string | null;
  failingSince: Date | null;
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
}

const COLS = 'id, tenant_id, url, events, active, description, disabled_reason, failing_since, previous_secret_expires_at, created_at';

function endpointRow(r: Record<string, unknown>): WebhookEndpoint {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    url: String(r.url),
    events: (r.events as string[]) ?? [],
    active: Boolean(r.active),
    description: String(r.description ?? ''),
    disabledReason: (r.disabled_reason as string | null) ?? null,
    failingSince: (r.failing_since as Date | null) ?? null,
    previousSecretExpiresAt: (r.previous_secret_expires_at as Date | null) ?? null,
    createdAt: r.created_at as Date,
  };
}

function checkEvents(events: readonly string[]): string[] {
  const unknown = events.filter((e) => !(webhookEventTypes as readonly string[]).includes(e) || e === 'webhook.test');
  if (unknown.length) throw badInput(`events: unknown event type(s) ${unknown.join(', ')}; known: ${webhookEventTypes.filter((e) => e !== 'webhook.test').join(', ')}`);
  if (events.length === 0) throw badInput('events: name at least one event type');
  return [...new Set(events)];
}

export const MAX_ENDPOINTS_PER_TENANT = 20;

/** Creates an endpoint (the URL was checked by the caller); returns it with its secret, shown once. */
export async function createEndpoint(c: pg.ClientBase, q: { tenantId: string; url: string; events: readonly string[]; description?: string; actor: Actor }): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const events = checkEvents(q.events);
  const description = (q.description ?? '').slice(0, 500);
  await c.query(`SELECT pg_advisory_xact_lock(hashtext('tollgate.webhook-endpoints'), hashtext($1))`, [q.tenantId]);
  const { rows: count } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_endpoints WHERE tenant_id = $1 AND active`, [q.tenantId]);
  if (count[0]!.n >= MAX_ENDPOINTS_PER_TENANT) throw badInput(`at most ${MAX_ENDPOINTS_PER_TENANT} active webhook endpoints per tenant`);
  const secret = generateWebhookSecret();
  const { rows } = await c.query(`INSERT INTO webhook_endpoints (tenant_id, url, secret, events, description) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLS}`, [q.tenantId, q.url, secret, events, description]);
  const endpoint = endpointRow(rows[0]!);
  await recordAudit(c, auditFrom(q.actor, { tenantId: q.tenantId, action: 'webhook_endpoint.create', targetType: 'webhook_endpoint', targetId: endpoint.id, before: null, after: endpoint }));
  return { endpoint, secret };
}

export async function listEndpoints(c: pg.ClientBase, q: { tenantId: string }): Promise<WebhookEndpoint[]> {
  const { rows } = await c.query(`SELECT ${COLS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id`, [q.tenantId]);
  return rows.map(endpointRow);
}

async function lockEndpoint(c: pg.ClientBase, q: { tenantId: string; id: string }): Promise<WebhookEndpoint> {
  const { rows } = await c.query(`SELECT ${COLS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [q.tenantId, q.id]);
  if (!rows[0]) throw notFound('webhook endpoint not found');
  return endpointRow(rows[0]);
}

/** A new secret; the old one keeps signing (a second signature) for ROTATION_OVERLAP_MS. */
export async function rotateEndpointSecret(c: pg.ClientBase, q: { tenantId: string; id: string; actor: Actor; now?: Date }): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const before = await lockEndpoint(c, q);
  const secret = generateWebhookSecret();
  const until = new Date((q.now ?? new Date()).getTime() + ROTATION_OVERLAP_MS);
  const { rows } = await c.query(
    `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $3, secret = $4 WHERE tenant_id = $1 AND id = $2 RETURNING ${COLS}`,
    [q.tenantId, q.id, until, secret],
  );
  const endpoint = endpointRow(rows[0]!);
  await recordAudit(c, auditFrom(q.actor, { tenantId: q.tenantId, action: 'webhook_endpoint.rotate_secret', targetType: 'webhook_endpoint', targetId: q.id, before, after: endpoint }));
  return { endpoint, secret };
}

/** Disables an endpoint (by an admin, or by delivery: 410 Gone, failing for days). Pending deliveries then fail. */
export async function disableEndpoint(c: pg.ClientBase, q: { tenantId: string; id: string; reason: string; actor: Actor }): Promise<WebhookEndpoint> {
  const before = await lockEndpoint(c, q);
  const { rows } = await c.query(`UPDATE webhook_endpoints SET active = false, disabled_reason = $3 WHERE tenant_id = $1 AND id = $2 RETURNING ${COLS}`, [q.tenantId, q.id, q.reason]);
  const endpoint = endpointRow(rows[0]!);
  if (before.active) await recordAudit(c, auditFrom(q.actor, { tenantId: q.tenantId, action: 'webhook_endpoint.disable', targetType: 'webhook_endpoint', targetId: q.id, before, after: endpoint }));
  return endpoint;
}

export async function getEndpoint(c: pg.ClientBase, q: { tenantId: string; id: string }): Promise<WebhookEndpoint> {
  const { rows } = await c.query(`SELECT ${COLS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, [q.tenantId, q.id]);
  if (!rows[0]) throw notFound('webhook endpoint not found');
  return endpointRow(rows[0]);
}

export interface WebhookAttempt {
  attempt: number;
  startedAt: Date;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
}

export interface WebhookDelivery {
  id: string;
  endpointId: string;
  messageId: string;
  eventType: string;
  status: string;
  attempts: number;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  log: WebhookAttempt[];
}

/** The endpoint's deliveries, newest first, each with its attempts. */
export async function listDeliveries(c: pg.ClientBase, q: { tenantId: string; endpointId: string; limit: number }): Promise<WebhookDelivery[]> {
  await getEndpoint(c, { tenantId: q.tenantId, id: q.endpointId });
  const { rows } = await c.query(
    `SELECT d.id, d.endpoint_id, d.message_id, d.event_type, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at,
            COALESCE((SELECT json_agg(json_build_object('attempt', a.attempt, 'startedAt', a.started_at, 'statusCode', a.status_code, 'latencyMs', a.latency_ms, 'error', a.error) ORDER BY a.attempt)
                      FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::json) AS log
     FROM webhook_deliveries d WHERE d.tenant_id = $1 AND d.endpoint_id = $2 ORDER BY d.created_at DESC, d.id DESC LIMIT $3`,
    [q.tenantId, q.endpointId, q.limit],
  );
  return rows.map((r) => ({
    id: String(r.id),
    endpointId: String(r.endpoint_id),
    messageId: String(r.message_id),
    eventType: String(r.event_type),
    status: String(r.status),
    attempts: Number(r.attempts),
    nextAttemptAt: (r.next_attempt_at as Date | null) ?? null,
    lastStatusCode: (r.last_status_code as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    createdAt: r.created_at as Date,
    log: (r.log as Array<Omit<WebhookAttempt, 'startedAt'> & { startedAt: string }>).map((a) => ({ ...a, startedAt: new Date(a.startedAt) })),
  }));
}
