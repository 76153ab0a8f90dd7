/** What the API does with endpoints, in the caller's scoped transaction: create (URL checked for SSRF first) and test events. */
import type pg from 'pg';
import { randomUUID } from 'node:crypto';
import type { Actor } from '../audit/index.js';
import { checkWebhookTarget } from './ssrf.js';
import { createEndpoint, getEndpoint, type WebhookEndpoint } from './repo.js';
import { messageIdFor } from './deliver.js';
import { AppError } from '../shared/index.js';

/** Checks the URL (scheme, DNS, no private targets unless allowed) and creates the endpoint; the secret is returned once. */
export async function registerEndpoint(
  c: pg.ClientBase,
  q: { tenantId: string; url: string; events: readonly string[]; description?: string; actor: Actor; allowPrivateTargets: boolean },
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  await checkWebhookTarget(q.url, { allowPrivate: q.allowPrivateTargets });
  return createEndpoint(c, q);
}

/**
 * Records a `webhook.test` delivery to one active endpoint (the worker sends it within its sweep
 * interval). Returns the delivery id.
 */
export async function recordTestEvent(c: pg.ClientBase, q: { tenantId: string; endpointId: string; now?: Date }): Promise<string> {
  const ep = await getEndpoint(c, { tenantId: q.tenantId, id: q.endpointId });
  if (!ep.active) throw new AppError('CONFLICT', 'the webhook endpoint is disabled');
  const at = q.now ?? new Date();
  const body = JSON.stringify({ type: 'webhook.test', timestamp: at.toISOString(), data: { endpointId: ep.id, message: 'a test event from Tollgate' } });
  const { rows } = await c.query<{ id: string }>(
    `INSERT INTO webhook_deliveries (tenant_id, endpoint_id, message_id, event_type, body, next_attempt_at) VALUES ($1, $2, $3, 'webhook.test', $4, now()) RETURNING id`,
    [q.tenantId, ep.id, messageIdFor(`test:${randomUUID()}`), body],
  );
  return rows[0]!.id;
}
