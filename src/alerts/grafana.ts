/**
 * Grafana's alert notifications received back (`POST /webhooks/grafana` on the API role):
 * Grafana's webhook payload (`version: "1"`, `alerts[]`), authenticated by a bearer token or an
 * HMAC-SHA256 of the body in `X-Grafana-Alerting-Signature` (over `<timestamp>:<body>` when
 * Grafana sends `X-Grafana-Alerting-Timestamp`). Alerts labelled with a known `tenant_id`
 * land in that tenant's feed, one live alert per fingerprint (`grafana:<fingerprint>`);
 * `resolved` resolves it. Anything unauthenticated or malformed is refused and nothing stored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { isUuid, withPlatform, withTenant, type PgPools } from '../db/index.js';
import { resolveAlertByKey, upsertAlert } from './repo.js';

export interface GrafanaReceiverSettings {
  /** Bearer token Grafana's contact point sends (authorization_credentials). */
  token?: string | undefined;
  /** HMAC secret of the contact point's hmacConfig. */
  hmacSecret?: string | undefined;
}

const grafanaAlert = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()).default({}),
  fingerprint: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
  startsAt: z.string().datetime({ offset: true }),
  endsAt: z.string().datetime({ offset: true }).or(z.literal('0001-01-01T00:00:00Z')).optional(),
});
const payloadSchema = z.object({ version: z.literal('1'), alerts: z.array(grafanaAlert).max(1000) }).passthrough();

export interface ReceiverResult {
  status: number;
  body: Record<string, unknown>;
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function authenticated(s: GrafanaReceiverSettings, q: { rawBody: Buffer; authorization?: string; signature?: string; timestamp?: string }): boolean {
  if (s.token && q.authorization !== undefined && equal(q.authorization, `Bearer ${s.token}`)) return true;
  if (s.hmacSecret && q.signature !== undefined) {
    const mac = createHmac('sha256', s.hmacSecret);
    if (q.timestamp !== undefined) mac.update(`${q.timestamp}:`);
    return equal(q.signature.toLowerCase(), mac.update(q.rawBody).digest('hex'));
  }
  return false;
}

export async function receiveGrafanaWebhook(
  deps: { pools: Pick<PgPools, 'app'>; settings: GrafanaReceiverSettings },
  q: { rawBody: Buffer; authorization?: string; signature?: string; timestamp?: string },
): Promise<ReceiverResult> {
  if (!deps.settings.token && !deps.settings.hmacSecret) return { status: 503, body: { error: 'the Grafana receiver is not configured (GRAFANA_WEBHOOK_TOKEN or GRAFANA_WEBHOOK_HMAC_SECRET)' } };
  if (!authenticated(deps.settings, q)) return { status: 401, body: { error: 'missing or invalid Grafana credentials' } };
  let json: unknown;
  try {
    json = JSON.parse(q.rawBody.toString('utf8'));
  } catch {
    return { status: 400, body: { error: 'body is not JSON' } };
  }
  const parsed = payloadSchema.safeParse(json);
  if (!parsed.success) return { status: 400, body: { error: `not a Grafana webhook payload: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}` } };
  const alerts = parsed.data.alerts;
  const tenantIds = [...new Set(alerts.map((a) => a.labels.tenant_id).filter((t): t is string => t !== undefined && isUuid(t)))];
  const known = tenantIds.length
    ? await withPlatform(deps.pools.app, async (c) => new Set((await c.query<{ id: string }>('SELECT id FROM tenants WHERE id = ANY($1::uuid[])', [tenantIds])).rows.map((r) => r.id)))
    : new Set<string>();
  let applied = 0;
  for (const a of alerts) {
    const tenantId = a.labels.tenant_id;
    if (!tenantId || !known.has(tenantId)) continue;
    const dedupKey = `grafana:${a.fingerprint}`;
    const summary = a.annotations.summary ?? a.annotations.description ?? a.labels.alertname ?? 'Grafana alert';
    await withTenant(deps.pools.app, { tenantId }, async (c) => {
      if (a.status === 'firing') {
        const severity = a.labels.severity === 'critical' ? 'critical' : a.labels.severity === 'info' ? 'info' : 'warning';
        await upsertAlert(c, {
          tenantId,
          kind: 'grafana',
          metric: a.labels.alertname ?? '',
          severity,
          source: 'grafana',
          dedupKey,
          title: summary,
          details: { explanation: summary, fingerprint: a.fingerprint, labels: a.labels, annotations: a.annotations, startsAt: a.startsAt },
          openedAt: new Date(a.startsAt),
        });
      } else {
        const ends = a.endsAt && !a.endsAt.startsWith('0001') ? new Date(a.endsAt) : undefined;
        await resolveAlertByKey(c, { tenantId, dedupKey, details: { endsAt: a.endsAt ?? null }, resolvedBy: 'system:grafana', ...(ends ? { resolvedAt: ends } : {}) });
      }
    });
    applied++;
  }
  return { status: 200, body: { received: alerts.length, applied, ignored: alerts.length - applied } };
}
