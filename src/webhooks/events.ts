/** Domain events that become webhooks: the detector's alert transitions. */
import type { DeliveryDeps } from './deliver.js';
import { publishWebhookEvent } from './deliver.js';

interface Transition {
  tenantId: string;
  alertId: string;
  metric: string;
  model: string;
  bucket: string;
  explanation: string;
}

/**
 * alert.opened / alert.resolved for the transitions of a detector pass whose hour ended within
 * `maxAgeMs` (history scored late — an import, a first scan — does not page anyone).
 */
export async function publishAlertTransitions(deps: DeliveryDeps, r: { opened: readonly Transition[]; resolved: readonly Transition[] }, opts: { maxAgeMs: number; bucketMs: number }): Promise<number> {
  const now = deps.now?.() ?? Date.now();
  let n = 0;
  const recent = (t: Transition) => Date.parse(t.bucket) + opts.bucketMs >= now - opts.maxAgeMs;
  for (const [type, list] of [['alert.opened', r.opened], ['alert.resolved', r.resolved]] as const) {
    for (const t of list.filter(recent)) {
      const alert = { id: t.alertId, kind: 'anomaly', metric: t.metric, model: t.model || null, bucket: t.bucket, explanation: t.explanation };
      n += (await publishWebhookEvent(deps, { tenantId: t.tenantId, type, key: `${t.alertId}:${type}`, data: { alert } })).length;
    }
  }
  return n;
}
