/**
 * Billing settings: the plan decides the grace window (default 24 h) and whether $0 invoices are
 * issued (default yes); a tenant row in tenant_billing_settings overrides either and carries the
 * tenant's exclusive tax rate (default 0).
 */
import { z } from 'zod';
import { recordAudit, auditFrom, type Actor } from '../audit/index.js';
import { isUuid, withPlatform, withTenant } from '../db/index.js';
import { badInput, notFound } from '../shared/index.js';
import { normaliseDecimal, type InvoicesDeps } from './repo.js';

export interface BillingSettings {
  taxRate: string;
  graceHours: number;
  issueZeroInvoices: boolean;
}

/** The settings in force for a tenant (plan: the one in force at `at`, else its latest). */
export async function billingSettings(deps: InvoicesDeps, q: { tenantId: string; at?: Date }): Promise<BillingSettings> {
  return withTenant(deps.pools.app, { tenantId: q.tenantId }, async (c) => {
    const { rows } = await c.query(
      `SELECT COALESCE(s.tax_rate, 0)::text AS tax_rate,
              COALESCE(s.invoice_grace_hours, p.invoice_grace_hours, 24) AS grace_hours,
              COALESCE(s.issue_zero_invoices, p.issue_zero_invoices, true) AS issue_zero
       FROM tenants t
       LEFT JOIN tenant_billing_settings s ON s.tenant_id = t.id
       LEFT JOIN LATERAL (SELECT plan_id FROM tenant_plans WHERE tenant_id = t.id AND effective_from < COALESCE($2, now())
                          ORDER BY effective_from DESC LIMIT 1) tp ON true
       LEFT JOIN plans p ON p.id = tp.plan_id
       WHERE t.id = $1`,
      [q.tenantId, q.at ?? null],
    );
    const r = rows[0];
    if (!r) throw notFound('tenant not found');
    return { taxRate: normaliseDecimal(String(r.tax_rate)), graceHours: Number(r.grace_hours), issueZeroInvoices: Boolean(r.issue_zero) };
  });
}

const settingsInput = z.object({
  taxRate: z
    .string()
    .regex(/^\d(\.\d{1,6})?$/, 'taxRate: a decimal fraction with at most 6 decimals, e.g. "0.19"')
    .optional(),
  graceHours: z.number().int().min(0).max(2160).nullable().optional(),
  issueZeroInvoices: z.boolean().nullable().optional(),
});

/** Sets a tenant's overrides (platform; audited). null resets an override to the plan's value. */
export async function setBillingSettings(
  deps: InvoicesDeps,
  q: { tenantId: string; taxRate?: string; graceHours?: number | null; issueZeroInvoices?: boolean | null; actor: Actor },
): Promise<BillingSettings> {
  if (!isUuid(q.tenantId)) throw notFound('tenant not found');
  const parsed = settingsInput.safeParse(q);
  if (!parsed.success) throw badInput(parsed.error.issues.map((i) => i.message).join('; '));
  await withPlatform(deps.pools.app, async (c) => {
    const exists = await c.query('SELECT 1 FROM tenants WHERE id = $1', [q.tenantId]);
    if (exists.rowCount === 0) throw notFound('tenant not found');
    const before = await c.query('SELECT tax_rate::text, invoice_grace_hours, issue_zero_invoices FROM tenant_billing_settings WHERE tenant_id = $1', [q.tenantId]);
    await c.query(
      `INSERT INTO tenant_billing_settings (tenant_id, tax_rate, invoice_grace_hours, issue_zero_invoices) VALUES ($1, COALESCE($2::numeric, 0), $3, $4)
       ON CONFLICT (tenant_id) DO UPDATE SET
         tax_rate = COALESCE($2::numeric, tenant_billing_settings.tax_rate),
         invoice_grace_hours = CASE WHEN $5 THEN $3 ELSE tenant_billing_settings.invoice_grace_hours END,
         issue_zero_invoices = CASE WHEN $6 THEN $4 ELSE tenant_billing_settings.issue_zero_invoices END,
         updated_at = now()`,
      [q.tenantId, q.taxRate ?? null, q.graceHours ?? null, q.issueZeroInvoices ?? null, q.graceHours !== undefined, q.issueZeroInvoices !== undefined],
    );
    await recordAudit(
      c,
      auditFrom(q.actor, {
        tenantId: q.tenantId,
        action: 'billing.settings',
        targetType: 'tenant',
        targetId: q.tenantId,
        before: before.rows[0] ?? null,
        after: { taxRate: q.taxRate, graceHours: q.graceHours, issueZeroInvoices: q.issueZeroInvoices },
      }),
    );
  });
  return billingSettings(deps, { tenantId: q.tenantId });
}
