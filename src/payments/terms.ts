/** Collection terms of a tenant's current plan (plan_payment_terms; a plan without a row uses the defaults). */
import type pg from 'pg';

export interface PaymentTerms {
  /** Days a sent invoice is due after finalization. */
  daysUntilDue: number;
  /** Days after the first failed payment of an unpaid invoice before the tenant is suspended (reason dunning). */
  dunningSuspendAfterDays: number;
}

export const DEFAULT_PAYMENT_TERMS: PaymentTerms = { daysUntilDue: 30, dunningSuspendAfterDays: 14 };

export async function paymentTermsOf(c: pg.ClientBase, tenantId: string): Promise<PaymentTerms> {
  const { rows } = await c.query<{ days_until_due: number; dunning_suspend_after_days: number }>(
    `SELECT ppt.days_until_due, ppt.dunning_suspend_after_days
     FROM tenant_plans tp JOIN plan_payment_terms ppt ON ppt.plan_id = tp.plan_id
     WHERE tp.tenant_id = $1 AND tp.effective_from <= now() AND (tp.effective_to IS NULL OR tp.effective_to > now())`,
    [tenantId],
  );
  const r = rows[0];
  return r ? { daysUntilDue: r.days_until_due, dunningSuspendAfterDays: r.dunning_suspend_after_days } : DEFAULT_PAYMENT_TERMS;
}

/** Sets a plan's terms (platform operation; run under withPlatform). */
export async function setPlanPaymentTerms(c: pg.ClientBase, q: { planId: string } & Partial<PaymentTerms>): Promise<void> {
  await c.query(
    `INSERT INTO plan_payment_terms (plan_id, days_until_due, dunning_suspend_after_days) VALUES ($1, COALESCE($2, $4), COALESCE($3, $5))
     ON CONFLICT (plan_id) DO UPDATE SET days_until_due = COALESCE($2, plan_payment_terms.days_until_due),
       dunning_suspend_after_days = COALESCE($3, plan_payment_terms.dunning_suspend_after_days)`,
    [q.planId, q.daysUntilDue ?? null, q.dunningSuspendAfterDays ?? null, DEFAULT_PAYMENT_TERMS.daysUntilDue, DEFAULT_PAYMENT_TERMS.dunningSuspendAfterDays],
  );
}
