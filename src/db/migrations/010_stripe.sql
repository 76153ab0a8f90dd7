-- Stripe collection (src/payments) and the tenant states dunning needs.

-- Tenants: `past_due` (a payment failed; still served) and why a tenant is suspended. A suspension
-- without a reason (rows from before this migration, raw test updates) counts as an operator's.
ALTER TABLE tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_status_check CHECK (status IN ('active', 'past_due', 'suspended'));
ALTER TABLE tenants ADD COLUMN suspension_reason text CHECK (suspension_reason IN ('operator', 'dunning'));
UPDATE tenants SET suspension_reason = 'operator' WHERE status = 'suspended';
ALTER TABLE tenants ADD CONSTRAINT tenants_suspension_reason_only_when_suspended CHECK (suspension_reason IS NULL OR status = 'suspended');
