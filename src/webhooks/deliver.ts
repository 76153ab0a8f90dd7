/**
 * Delivery: an event becomes one `webhook_deliveries` row per subscribed active endpoint (the
 * message id is derived from the event's key, unique per endpoint: publishing twice delivers
 * once), then attempts on a Svix-like schedule — right away, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
 * 10 h — each as a delayed bull job; a sweep re-enqueues due deliveries whose job was lost.
 * Only a 2xx answer succeeds; 410 Gone disables the endpoint; an endpoint failing for 5 days is
 * disabled with an alert in the tenant's feed.
 */
import { createHash } from 'node:crypto';
import { withPlatform, withTenant, type PgPools } from '../db/index.js';
import type { Logger } from '../shared/index.js';
import { upsertAlert } from '../alerts/index.js';
import { checkWebhookTarget } from './ssrf.js';
import { postWebhook } from './http.js';
import { webhookHeaders } from './signing.js';
import type { WebhookEventType } from './repo.js';

/** Delay before attempt n+1 (index n-1 after n failed attempts); its length is the number of attempts. */
export const retrySchedule: readonly number[] = [0, 5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000, 10 * 3_600_000];
/** An endpoint whose deliveries have failed without a success for this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * 3_600_000;
/** A claimed attempt that never reported (a crashed worker) is retried after this. */
const CLAIM_LEASE_MS = 5 * 60_000;

export interface WebhookSettings {
  allowPrivateTargets: boolean;
  timeoutMs: number;
  maxResponseBytes: number;
}

export interface DeliveryDeps {
  pools: Pick<PgPools, 'app'>;
  settings: WebhookSettings;
  /** Schedules an attempt of the delivery (a bull job in the worker); absent: the sweep finds it. */
  enqueue?: (deliveryId: string, delayMs: number) => Promise<void>;
  logger?: Logger;
  now?: () => number;
}

export interface WebhookEvent {
  tenantId: string;
  type: WebhookEventType;
  /** Names the event for deduplication (e.g. `<alert id>:opened`): the same key is delivered once per endpoint. */
  key: string;
  data: Record<string, unknown>;
  /** Only this endpoint (test events); default: every active endpoint subscribed to the type. */
  endpointId?: string;
}

export function messageIdFor(key: string): string {
  return 'msg_' + createHash('sha256').update(key).digest('base64url').slice(0, 27);
}

/** Records the event's deliveries and schedules their first attempts. Returns the new deliveries' ids. */
export async function publishWebhookEvent(deps: DeliveryDeps, e: WebhookEvent): Promise<string[]> {
  const now = deps.now?.() ?? Date.now();
  const body = JSON.stringify({ type: e.type, timestamp: new Date(now).toISOString(), data: e.data });
  const ids = await withTenant(deps.pools.app, { tenantId: e.tenantId }, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO webhook_deliveries (tenant_id, endpoint_id, message_id, event_type, body, next_attempt_at)
       SELECT $1, w.id, $2, $3, $4, now() FROM webhook_endpoints w
       WHERE w.tenant_id = $1 AND w.active AND (($5::uuid IS NULL AND $3 = ANY (w.events)) OR w.id = $5::uuid)
       ON CONFLICT (endpoint_id, message_id) DO NOTHING RETURNING id`,
      [e.tenantId, messageIdFor(e.key), e.type, body, e.endpointId ?? null],
    );
    return rows.map((r) => r.id);
  });
  if (deps.enqueue) for (const id of ids) await deps.enqueue(id, 0).catch((err: unknown) => deps.logger?.warn({ err, deliveryId: id }, 'could not enqueue a webhook delivery (the sweep will)'));
  return ids;
}

interface Claimed {
  id: string;
  tenant_id: string;
  endpoint_id: string;
  message_id: string;
  body: string;
  attempts: number;
  url: string;
  active: boolean;
  secret: string;
  previous_secret: string | null;
  previous_valid: boolean;
  failing_since: Date | null;
}

export type AttemptOutcome = 'succeeded' | 'retry' | 'failed' | 'not-due';

/** One attempt of a delivery, if it is due and pending (a concurrent attempt of the same delivery finds it claimed). */
export async function attemptDelivery(deps: DeliveryDeps, deliveryId: string): Promise<AttemptOutcome> {
  const now = deps.now?.() ?? Date.now();
  const claimed = await withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query<Claimed>(
      `UPDATE webhook_deliveries d SET next_attempt_at = to_timestamp($2::double precision / 1000) + make_interval(secs => $3::double precision / 1000)
       FROM webhook_endpoints w
       WHERE d.id = $1 AND w.id = d.endpoint_id AND d.status = 'pending' AND d.next_attempt_at <= to_timestamp($2::double precision / 1000)
       RETURNING d.id, d.tenant_id, d.endpoint_id, d.message_id, d.body, d.attempts, w.url, w.active, w.secret, w.previous_secret,
                 (w.previous_secret_expires_at > to_timestamp($2::double precision / 1000)) AS previous_valid, w.failing_since`,
      [deliveryId, now, CLAIM_LEASE_MS],
    );
    return rows[0] ?? null;
  });
  if (!claimed) return 'not-due';
  if (!claimed.active) {
    await finish(deps, claimed, { status: 'failed', error: 'endpoint disabled', statusCode: null, latencyMs: null, now });
    return 'failed';
  }
  const attempt = claimed.attempts + 1;
  let result: { status: number | null; latencyMs: number; error: string | null };
  try {
    const target = await checkWebhookTarget(claimed.url, { allowPrivate: deps.settings.allowPrivateTargets });
    const secrets = claimed.previous_secret && claimed.previous_valid ? [claimed.secret, claimed.previous_secret] : [claimed.secret];
    const headers = webhookHeaders({ msgId: claimed.message_id, timestampSeconds: Math.floor(now / 1000), body: claimed.body, secrets });
    result = await postWebhook(target, claimed.body, headers, { timeoutMs: deps.settings.timeoutMs, maxResponseBytes: deps.settings.maxResponseBytes });
  } catch (err) {
    result = { status: null, latencyMs: 0, error: err instanceof Error ? err.message : String(err) };
  }
  const ok = result.status !== null && result.status >= 200 && result.status < 300;
  if (ok) {
    await finish(deps, claimed, { status: 'succeeded', error: null, statusCode: result.status, latencyMs: result.latencyMs, now, attempt });
    return 'succeeded';
  }
  const error = result.error ?? `HTTP ${result.status}${result.status !== null && result.status >= 300 && result.status < 400 ? ' (redirects are not followed)' : ''}`;
  if (result.status === 410) {
    await finish(deps, claimed, { status: 'failed', error, statusCode: 410, latencyMs: result.latencyMs, now, attempt, disable: 'the receiver answered 410 Gone' });
    return 'failed';
  }
  const failingSince = claimed.failing_since?.getTime() ?? now;
  const tooLong = now - failingSince >= DISABLE_AFTER_FAILING_MS;
  if (attempt >= retrySchedule.length || tooLong) {
    await finish(deps, claimed, { status: 'failed', error, statusCode: result.status, latencyMs: result.latencyMs, now, attempt, ...(tooLong ? { disable: 'failing for 5 days' } : {}) });
    return 'failed';
  }
  const delay = retrySchedule[attempt]!;
  await finish(deps, claimed, { status: 'pending', error, statusCode: result.status, latencyMs: result.latencyMs, now, attempt, nextAttemptAt: now + delay });
  if (deps.enqueue) await deps.enqueue(claimed.id, delay).catch((err: unknown) => deps.logger?.warn({ err, deliveryId: claimed.id }, 'could not enqueue a webhook retry (the sweep will)'));
  return 'retry';
}

async function finish(
  deps: DeliveryDeps,
  d: Claimed,
  r: { status: 'succeeded' | 'failed' | 'pending'; error: string | null; statusCode: number | null; latencyMs: number | null; now: number; attempt?: number; nextAttemptAt?: number; disable?: string },
): Promise<void> {
  await withTenant(deps.pools.app, { tenantId: d.tenant_id }, async (c) => {
    const at = new Date(r.now);
    if (r.attempt !== undefined) {
      await c.query(
        `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, started_at, status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (delivery_id, attempt) DO NOTHING`,
        [d.tenant_id, d.id, r.attempt, at, r.statusCode, r.latencyMs, r.error],
      );
    }
    await c.query(
      `UPDATE webhook_deliveries SET status = $2, attempts = COALESCE($3, attempts), last_status_code = $4, last_error = $5, next_attempt_at = $6 WHERE id = $1`,
      [d.id, r.status, r.attempt ?? null, r.statusCode, r.error, r.nextAttemptAt !== undefined ? new Date(r.nextAttemptAt) : null],
    );
    if (r.status === 'succeeded') await c.query(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1`, [d.endpoint_id]);
    else if (r.attempt !== undefined) await c.query(`UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1`, [d.endpoint_id, at]);
    if (r.disable) {
      const { rowCount } = await c.query(`UPDATE webhook_endpoints SET active = false, disabled_reason = $2 WHERE id = $1 AND active`, [d.endpoint_id, r.disable]);
      if (rowCount) {
        await upsertAlert(c, {
          tenantId: d.tenant_id,
          kind: 'webhook',
          metric: 'endpoint_disabled',
          severity: 'warning',
          dedupKey: `webhook:disabled:${d.endpoint_id}`,
          title: `webhook endpoint ${d.url} disabled: ${r.disable}`,
          details: { endpointId: d.endpoint_id, url: d.url, reason: r.disable, explanation: `webhook endpoint ${d.url} disabled: ${r.disable}` },
        });
      }
    }
  });
}

/** Enqueues due pending deliveries (lost jobs, deliveries recorded by the CLI). Returns how many. */
export async function sweepDeliveries(deps: DeliveryDeps, limit = 500): Promise<number> {
  if (!deps.enqueue) return 0;
  const ids = await withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query<{ id: string }>(`SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1`, [limit]);
    return rows.map((r) => r.id);
  });
  for (const id of ids) await deps.enqueue(id, 0);
  return ids.length;
}
