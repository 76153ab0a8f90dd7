/**
 * Dunning: what unpaid Stripe invoices mean for the tenant.
 * - an invoice whose payment failed and that is neither paid nor void → the tenant is `past_due`
 *   (still served; an alert tells it);
 * - once the oldest such failure is older than the plan's `dunning_suspend_after_days` → the
 *   tenant is suspended with reason `dunning` (admission answers 403);
 * - nothing unpaid any more → a `past_due` tenant or a `dunning` suspension goes back to active.
 *   An operator's suspension is never lifted (nor turned into a dunning one).
 * `reconcileDunning` decides on the locked tenant row inside the caller's platform transaction,
 * so a webhook and the scheduled check cannot race each other or an operator.
 */
import type pg from 'pg';
import { withPlatform, type PgPools } from '../db/index.js';
import { changeTenantStatus, type Tenant } from '../tenants/index.js';
import { resolveAlertByKey, upsertAlert } from '../alerts/index.js';
import { publishTenantKeysChanged } from '../keys/index.js';
import type { Actor } from '../audit/index.js';
import type { Config } from '../config/index.js';
import type { Logger, Redis } from '../shared/index.js';
import { paymentTermsOf } from './terms.js';

export const PAST_DUE_ALERT = 'dunning:past_due';
export const SUSPENDED_ALERT = 'dunning:suspended';
export const dunningActor: Actor = { type: 'system', id: 'dunning' };

export interface DunningChange {
  tenantId: string;
  from: Tenant['status'];
  to: Tenant['status'];
  reason: Tenant['suspensionReason'];
}

/** The oldest failed payment among the tenant's unpaid invoices (null: nothing unpaid after a failure). */
async function oldestUnpaidFailure(c: pg.ClientBase, tenantId: string): Promise<{ since: Date; invoices: number } | null> {
  const { rows } = await c.query<{ since: Date | null; n: number }>(
    `SELECT min(payment_failed_at) AS since, count(*)::int AS n FROM stripe_invoices
     WHERE tenant_id = $1 AND payment_failed_at IS NOT NULL AND stripe_status IN ('open', 'uncollectible')`,
    [tenantId],
  );
  const r = rows[0];
  return r?.since ? { since: r.since, invoices: r.n } : null;
}

/** Brings one tenant's status in line with its unpaid invoices at `now` (in the caller's platform transaction). */
export async function reconcileDunning(c: pg.ClientBase, q: { tenantId: string; now: Date; actor?: Actor }): Promise<DunningChange | null> {
  const actor = q.actor ?? dunningActor;
  const unpaid = await oldestUnpaidFailure(c, q.tenantId);
  let result: Awaited<ReturnType<typeof changeTenantStatus>>;
  if (unpaid) {
    const terms = await paymentTermsOf(c, q.tenantId);
    const dueBy = new Date(unpaid.since.getTime() + terms.dunningSuspendAfterDays * 86_400_000);
    const details = { unpaidInvoices: unpaid.invoices, firstFailedAt: unpaid.since.toISOString(), suspendAt: dueBy.toISOString(), dunningSuspendAfterDays: terms.dunningSuspendAfterDays };
    if (q.now.getTime() >= dueBy.getTime()) {
      result = await changeTenantStatus(c, { tenantId: q.tenantId, status: 'suspended', reason: 'dunning', actor, only: (t) => t.status !== 'suspended' });
      if (result.after.status === 'suspended' && result.after.suspensionReason === 'dunning') {
        await upsertAlert(c, { tenantId: q.tenantId, kind: 'dunning', metric: 'payment', severity: 'critical', dedupKey: SUSPENDED_ALERT, title: `suspended: a payment has been unpaid for ${terms.dunningSuspendAfterDays} days since it failed`, details });
      }
    } else {
      result = await changeTenantStatus(c, { tenantId: q.tenantId, status: 'past_due', actor, only: (t) => t.status === 'active' });
    }
    await upsertAlert(c, { tenantId: q.tenantId, kind: 'dunning', metric: 'payment', severity: 'warning', dedupKey: PAST_DUE_ALERT, title: `past due: ${unpaid.invoices} unpaid invoice(s) after a failed payment; suspension on ${details.suspendAt.slice(0, 10)} unless paid`, details });
  } else {
    result = await changeTenantStatus(c, { tenantId: q.tenantId, status: 'active', actor, only: (t) => t.status === 'past_due' || (t.status === 'suspended' && t.suspensionReason === 'dunning') });
    for (const key of [PAST_DUE_ALERT, SUSPENDED_ALERT]) await resolveAlertByKey(c, { tenantId: q.tenantId, dedupKey: key, details: { resolvedAt: q.now.toISOString() }, resolvedBy: actor.id });
  }
  return result.changed ? { tenantId: q.tenantId, from: result.before.status, to: result.after.status, reason: result.after.suspensionReason } : null;
}

export interface DunningDeps {
  pools: Pick<PgPools, 'app'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  redis?: Pick<Redis, 'publish'> | null;
  config: Pick<Config, 'REDIS_PREFIX'>;
}

/** Tells every replica's key cache that the tenant's status changed (after commit). */
export async function announceTenantStatus(deps: Pick<DunningDeps, 'redis' | 'config' | 'logger'>, change: DunningChange | null): Promise<void> {
  if (!change) return;
  deps.logger.info(change, 'dunning: tenant status changed');
  if (deps.redis) await publishTenantKeysChanged({ redis: deps.redis, config: deps.config }, change.tenantId).catch((err: unknown) => deps.logger.warn({ err }, 'dunning: could not announce the status change'));
}

/**
 * The scheduled check (worker role): every tenant with an unpaid failed invoice, or still marked
 * past_due / dunning-suspended, is reconciled at `now` — suspending those past their plan's days.
 */
export async function runDunningCheck(deps: DunningDeps, opts: { now?: Date } = {}): Promise<{ checked: number; changes: DunningChange[] }> {
  const now = opts.now ?? new Date();
  const tenantIds = await withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM stripe_invoices WHERE payment_failed_at IS NOT NULL AND stripe_status IN ('open', 'uncollectible')
       UNION SELECT id FROM tenants WHERE status = 'past_due' OR (status = 'suspended' AND suspension_reason = 'dunning')`,
    );
    return rows.map((r) => r.tenant_id);
  });
  const changes: DunningChange[] = [];
  for (const tenantId of tenantIds) {
    const change = await withPlatform(deps.pools.app, (c) => reconcileDunning(c, { tenantId, now }));
    await announceTenantStatus(deps, change);
    if (change) changes.push(change);
  }
  return { checked: tenantIds.length, changes };
}
