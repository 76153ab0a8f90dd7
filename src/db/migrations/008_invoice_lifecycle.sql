-- Invoice lifecycle (issue 10): generating -> draft -> finalized -> void, payment status as its own
-- column, a locked counter for gapless numbers, itemised credit notes of two types, the tenant
-- credit balance, billing settings per plan and tenant, and the recurring base fee as a price
-- component kind. Money stays integer micro-units of the invoice currency.

-- ---------------------------------------------------------------- invoices
DROP TRIGGER IF EXISTS invoices_immutable ON invoices;
DROP TRIGGER IF EXISTS invoice_lines_draft_only ON invoice_lines;

ALTER TABLE invoices ADD COLUMN payment_status text NOT NULL DEFAULT 'pending'
  CHECK (payment_status IN ('pending', 'paid', 'failed', 'uncollectible'));
-- 'paid' leaves the status: it becomes finalized + payment_status paid.
UPDATE invoices SET payment_status = 'paid', status = 'finalized' WHERE status = 'paid';
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_status_check;
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_check1;
ALTER TABLE invoices ADD CONSTRAINT invoices_status_check CHECK (status IN ('generating', 'draft', 'finalized', 'void'));
ALTER TABLE invoices ADD CONSTRAINT invoices_numbered_check
  CHECK (status IN ('generating', 'draft') OR status = 'void' OR (number IS NOT NULL AND finalized_at IS NOT NULL));
ALTER TABLE invoices
  -- Rounded to the currency's minor unit, after tax: what the tenant owes before its credit balance.
  ADD COLUMN credit_applied_micros bigint NOT NULL DEFAULT 0 CHECK (credit_applied_micros >= 0),
  ADD COLUMN amount_due_micros bigint NOT NULL DEFAULT 0,
  -- Tax rate applied (exclusive), as a decimal fraction (0.19 = 19 %).
  ADD COLUMN tax_rate numeric(9, 6) NOT NULL DEFAULT 0 CHECK (tax_rate >= 0 AND tax_rate < 10),
  ADD COLUMN grace_ends_at timestamptz,
  ADD COLUMN void_reason text,
  ADD COLUMN finalized_by text,
  ADD COLUMN forced boolean NOT NULL DEFAULT false,
  ADD COLUMN regenerated_from uuid REFERENCES invoices(id),
  ADD COLUMN generation_started_at timestamptz,
  ADD COLUMN refreshed_at timestamptz;

-- Finalized invoices are immutable. Allowed moves: generating -> draft | (deleted), draft -> finalized,
-- finalized -> void (unpaid only), and the payment status / metadata / void fields moving on.
CREATE OR REPLACE FUNCTION invoices_guard_lifecycle() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status IN ('generating', 'draft') THEN
    IF NEW.status NOT IN ('generating', 'draft', 'finalized', 'void') THEN
      RAISE EXCEPTION 'invoice % cannot go from % to %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status = 'void' AND NEW.status <> 'void' THEN
    RAISE EXCEPTION 'invoice % is void', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  IF OLD.status = 'finalized' AND NEW.status NOT IN ('finalized', 'void') THEN
    RAISE EXCEPTION 'invoice % cannot go from % to %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'check_violation';
  END IF;
  IF OLD.status = 'finalized' AND NEW.status = 'void' AND OLD.payment_status = 'paid' THEN
    RAISE EXCEPTION 'invoice % is paid and cannot be voided; issue a refund credit note', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.tenant_id, NEW.number, NEW.period_start, NEW.period_end, NEW.currency, NEW.plan_id, NEW.subtotal_micros,
      NEW.tax_micros, NEW.total_micros, NEW.finalized_at, NEW.due_at, NEW.credit_applied_micros, NEW.amount_due_micros, NEW.tax_rate)
     IS DISTINCT FROM
     (OLD.tenant_id, OLD.number, OLD.period_start, OLD.period_end, OLD.currency, OLD.plan_id, OLD.subtotal_micros,
      OLD.tax_micros, OLD.total_micros, OLD.finalized_at, OLD.due_at, OLD.credit_applied_micros, OLD.amount_due_micros, OLD.tax_rate) THEN
    RAISE EXCEPTION 'invoice % is % and immutable; issue a credit note instead', OLD.id, OLD.status USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER invoices_lifecycle BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION invoices_guard_lifecycle();

-- ---------------------------------------------------------------- lines
ALTER TABLE invoice_lines
  ADD COLUMN kind text NOT NULL DEFAULT 'usage' CHECK (kind IN ('usage', 'base_fee', 'adjustment', 'credit')),
  ADD COLUMN included_quantity numeric(30, 6) NOT NULL DEFAULT 0,
  ADD COLUMN billable_quantity numeric(30, 6) NOT NULL DEFAULT 0,
  -- amount_micros is exact (== costAttribution); rounded_micros is rounded half-up to the currency's minor unit.
  ADD COLUMN rounded_micros bigint,
  -- Adjustment lines name the period whose late usage they bill.
  ADD COLUMN adjusts_period_start timestamptz,
  ADD COLUMN adjusts_period_end timestamptz;
UPDATE invoice_lines SET rounded_micros = amount_micros WHERE rounded_micros IS NULL;
CREATE UNIQUE INDEX invoice_lines_no_uq ON invoice_lines (invoice_id, line_no) WHERE line_no > 0;

CREATE OR REPLACE FUNCTION invoice_lines_guard_open() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
  SELECT status INTO st FROM invoices WHERE id = COALESCE(NEW.invoice_id, OLD.invoice_id);
  -- st IS NULL: the invoice itself is being deleted (cascade).
  IF st IS NOT NULL AND st NOT IN ('generating', 'draft') THEN
    RAISE EXCEPTION 'lines of a % invoice cannot change', st USING ERRCODE = 'check_violation';
  END IF;
  RETURN COALESCE(NEW, OLD);
END $$;
CREATE TRIGGER invoice_lines_open_only BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
  FOR EACH ROW EXECUTE FUNCTION invoice_lines_guard_open();

-- ---------------------------------------------------------------- numbering
-- One row per issuer prefix: a finalization takes the row lock, increments, and commits with the
-- invoice. A rolled-back finalization gives its number back (unlike a sequence).
CREATE TABLE invoice_number_counters (
  issuer text PRIMARY KEY CHECK (issuer ~ '^[A-Z0-9]{1,12}$'),
  last_value bigint NOT NULL DEFAULT 0 CHECK (last_value >= 0)
);
ALTER TABLE invoice_number_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_number_counters FORCE ROW LEVEL SECURITY;
-- Any tenant's finalization takes the next number; the counter holds no tenant data.
CREATE POLICY counter_all ON invoice_number_counters USING (true) WITH CHECK (true);

-- ---------------------------------------------------------------- credit notes
ALTER TABLE credit_notes
  ADD COLUMN type text NOT NULL DEFAULT 'credit' CHECK (type IN ('credit', 'refund')),
  ADD COLUMN idempotency_key text,
  ADD COLUMN request_hash text;
CREATE UNIQUE INDEX credit_notes_idempotency_uq ON credit_notes (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE credit_note_items (
  id bigserial PRIMARY KEY,
  credit_note_id uuid NOT NULL REFERENCES credit_notes(id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  invoice_line_id bigint NOT NULL REFERENCES invoice_lines(id),
  amount_micros bigint NOT NULL CHECK (amount_micros > 0),
  UNIQUE (credit_note_id, invoice_line_id)
);
CREATE INDEX credit_note_items_line_idx ON credit_note_items (invoice_line_id);
SELECT app_enable_tenant_rls('credit_note_items');

-- A tenant's credit balance as a ledger: + from credit notes of type credit, - where an invoice applies it.
CREATE TABLE credit_balance_entries (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  amount_micros bigint NOT NULL CHECK (amount_micros <> 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  credit_note_id uuid REFERENCES credit_notes(id),
  invoice_id uuid REFERENCES invoices(id),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((credit_note_id IS NULL) <> (invoice_id IS NULL))
);
CREATE UNIQUE INDEX credit_balance_invoice_uq ON credit_balance_entries (invoice_id) WHERE invoice_id IS NOT NULL;
CREATE UNIQUE INDEX credit_balance_note_uq ON credit_balance_entries (credit_note_id) WHERE credit_note_id IS NOT NULL;
CREATE INDEX credit_balance_tenant_idx ON credit_balance_entries (tenant_id);
SELECT app_enable_tenant_rls('credit_balance_entries');

-- ---------------------------------------------------------------- settings
-- Plan defaults; NULL on the tenant row = take the plan's.
ALTER TABLE plans
  ADD COLUMN invoice_grace_hours integer NOT NULL DEFAULT 24 CHECK (invoice_grace_hours BETWEEN 0 AND 2160),
  ADD COLUMN issue_zero_invoices boolean NOT NULL DEFAULT true;

CREATE TABLE tenant_billing_settings (
  tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
  tax_rate numeric(9, 6) NOT NULL DEFAULT 0 CHECK (tax_rate >= 0 AND tax_rate < 10),
  invoice_grace_hours integer CHECK (invoice_grace_hours BETWEEN 0 AND 2160),
  issue_zero_invoices boolean,
  updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT app_enable_tenant_rls('tenant_billing_settings');

-- ---------------------------------------------------------------- base fee
-- A recurring base fee is a price component of kind base_fee: no meter (NULL: the meter CHECK
-- stays the registry's list), model standard, unit_price_micros = the fee for a whole billing
-- period, prorated by seconds over the part of the period its plan is in force. One at a time per plan.
ALTER TABLE price_components ADD COLUMN kind text NOT NULL DEFAULT 'usage' CHECK (kind IN ('usage', 'base_fee'));
ALTER TABLE price_components ALTER COLUMN meter DROP NOT NULL;
ALTER TABLE price_components ADD CONSTRAINT price_components_base_fee_no_overlap EXCLUDE USING gist (
  plan_id WITH =, tstzrange(effective_from, effective_to) WITH &&) WHERE (kind = 'base_fee');

-- Kind and meter go together (a trigger, so CHECK constraints on meter stay the registry's list).
CREATE OR REPLACE FUNCTION price_components_guard_kind() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kind = 'base_fee' AND (NEW.meter IS NOT NULL OR NEW.model <> 'standard' OR NEW.unit_price_micros IS NULL) THEN
    RAISE EXCEPTION 'a base fee has no meter, model standard and a unit_price_micros (the fee per period)' USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.kind = 'usage' AND NEW.meter IS NULL THEN
    RAISE EXCEPTION 'a usage price component needs a meter' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER price_components_kind BEFORE INSERT OR UPDATE ON price_components FOR EACH ROW EXECUTE FUNCTION price_components_guard_kind();
