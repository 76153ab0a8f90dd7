-- Stripe collection (src/payments) and the tenant states dunning needs.

-- Tenants: `past_due` (a payment failed; still served) and why a tenant is suspended. A suspension
-- without a reason (rows from before this migration, raw test updates) counts as an operator's.
ALTER TABLE tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_status_check CHECK (status IN ('active', 'past_due', 'suspended'));
ALTER TABLE tenants ADD COLUMN suspension_reason text CHECK (suspension_reason IN ('operator', 'dunning'));
UPDATE tenants SET suspension_reason = 'operator' WHERE status = 'suspended';
ALTER TABLE tenants ADD CONSTRAINT tenants_suspension_reason_only_when_suspended CHECK (suspension_reason IS NULL OR status = 'suspended');

-- A Stripe object is mapped once, whatever Tollgate object it stands for.
CREATE UNIQUE INDEX stripe_mappings_object_uq ON stripe_mappings (object_type, stripe_id);

-- Collection terms per plan: due days of a sent invoice, days unpaid after a failed payment
-- before the tenant is suspended with reason 'dunning'. A plan without a row uses 30 / 14.
CREATE TABLE plan_payment_terms (
  plan_id uuid PRIMARY KEY REFERENCES plans(id) ON DELETE CASCADE,
  days_until_due integer NOT NULL DEFAULT 30 CHECK (days_until_due BETWEEN 0 AND 365),
  dunning_suspend_after_days integer NOT NULL DEFAULT 14 CHECK (dunning_suspend_after_days BETWEEN 0 AND 365)
);
INSERT INTO plan_payment_terms (plan_id) SELECT id FROM plans ON CONFLICT DO NOTHING;
-- The catalog is readable by everyone, writable under the platform flag (like plans).
ALTER TABLE plan_payment_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE plan_payment_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY plan_payment_terms_read ON plan_payment_terms FOR SELECT USING (true);
CREATE POLICY plan_payment_terms_write ON plan_payment_terms FOR ALL USING (app_is_platform()) WITH CHECK (app_is_platform());

-- One row per Tollgate invoice that is (to be) collected through Stripe: the sync state
-- machine and what Stripe last said about payment. stripe_status_at is the `created` time of
-- the newest applied webhook event, so older deliveries arriving late change nothing.
CREATE TABLE stripe_invoices (
  invoice_id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  stripe_invoice_id text UNIQUE,
  stripe_customer_id text,
  sync_state text NOT NULL DEFAULT 'pending' CHECK (sync_state IN ('pending', 'syncing', 'synced', 'failed')),
  -- The step the sync reached (customer, invoice, items, finalize, done).
  sync_step text,
  items_synced integer NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  last_attempt_at timestamptz,
  synced_at timestamptz,
  hosted_invoice_url text,
  stripe_status text CHECK (stripe_status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
  stripe_status_at timestamptz,
  -- The first failed payment of the current unpaid run (dunning counts from it); cleared when paid or voided.
  payment_failed_at timestamptz,
  paid_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (invoice_id, tenant_id) REFERENCES invoices(id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX stripe_invoices_dunning_idx ON stripe_invoices (tenant_id) WHERE payment_failed_at IS NOT NULL;
CREATE INDEX stripe_invoices_sync_idx ON stripe_invoices (sync_state) WHERE sync_state <> 'synced';
CREATE TRIGGER stripe_invoices_updated_at BEFORE UPDATE ON stripe_invoices FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();
SELECT app_enable_tenant_rls('stripe_invoices');

-- Stripe webhook events already processed: each event id is applied at most once (the row is
-- written in the same transaction as the event's effects). tenant_id is NULL for events that
-- name no Tollgate tenant (then only the platform sees the row).
CREATE TABLE stripe_events (
  id text PRIMARY KEY,
  type text NOT NULL,
  stripe_created_at timestamptz NOT NULL,
  tenant_id uuid REFERENCES tenants(id) ON DELETE CASCADE,
  stripe_object_id text,
  -- applied | stale (older than what was applied) | ignored (type not handled, or not Tollgate's object)
  outcome text NOT NULL CHECK (outcome IN ('applied', 'stale', 'ignored')),
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_object_idx ON stripe_events (stripe_object_id);
SELECT app_enable_tenant_rls('stripe_events');

-- Credit notes sent to Stripe (credit-type as out_of_band_amount, refunds as refund_amount).
CREATE TABLE stripe_credit_notes (
  credit_note_id uuid PRIMARY KEY REFERENCES credit_notes(id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  invoice_id uuid NOT NULL,
  stripe_credit_note_id text UNIQUE,
  sync_state text NOT NULL DEFAULT 'pending' CHECK (sync_state IN ('pending', 'syncing', 'synced', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  last_attempt_at timestamptz,
  synced_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER stripe_credit_notes_updated_at BEFORE UPDATE ON stripe_credit_notes FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();
SELECT app_enable_tenant_rls('stripe_credit_notes');
