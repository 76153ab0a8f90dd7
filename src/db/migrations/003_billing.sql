-- Invoices, lines, credit notes, Stripe id mapping. Money: bigint micro-units (amounts) or NUMERIC (unit prices, quantities).
-- Lifecycle: draft -> finalized (numbered, immutable) -> paid | void. Corrections after finalization are credit notes.

CREATE SEQUENCE invoice_number_seq;
CREATE SEQUENCE credit_note_number_seq;

CREATE TABLE invoices (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  number text UNIQUE,
  period_start timestamptz NOT NULL,
  period_end timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'finalized', 'paid', 'void')),
  currency char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  plan_id uuid REFERENCES plans(id),
  subtotal_micros bigint NOT NULL DEFAULT 0,
  tax_micros bigint NOT NULL DEFAULT 0,
  total_micros bigint NOT NULL DEFAULT 0,
  finalized_at timestamptz,
  paid_at timestamptz,
  voided_at timestamptz,
  due_at timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (period_end > period_start),
  CHECK (status IN ('draft', 'void') OR (number IS NOT NULL AND finalized_at IS NOT NULL)),
  UNIQUE (id, tenant_id)
);
-- Period close is idempotent per (tenant, period): at most one live invoice per period.
CREATE UNIQUE INDEX invoices_period_uq ON invoices (tenant_id, period_start, period_end) WHERE status <> 'void';
CREATE INDEX invoices_tenant_idx ON invoices (tenant_id, period_start DESC);
CREATE TRIGGER invoices_updated_at BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();
SELECT app_enable_tenant_rls('invoices');

CREATE TABLE invoice_lines (
  id bigserial PRIMARY KEY,
  invoice_id uuid NOT NULL,
  tenant_id uuid NOT NULL,
  line_no integer NOT NULL DEFAULT 0,
  meter text NOT NULL,
  model text NOT NULL,
  description text NOT NULL DEFAULT '',
  quantity numeric(30, 6) NOT NULL DEFAULT 0,
  unit_price_micros numeric(24, 6),
  amount_micros bigint NOT NULL,
  price_component_id uuid REFERENCES price_components(id),
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  -- A line always belongs to an invoice of the same tenant.
  FOREIGN KEY (invoice_id, tenant_id) REFERENCES invoices(id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX invoice_lines_invoice_idx ON invoice_lines (invoice_id, line_no);
SELECT app_enable_tenant_rls('invoice_lines');

CREATE TABLE credit_notes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  invoice_id uuid NOT NULL,
  tenant_id uuid NOT NULL,
  number text NOT NULL UNIQUE,
  amount_micros bigint NOT NULL CHECK (amount_micros > 0),
  currency char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  reason text NOT NULL,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (invoice_id, tenant_id) REFERENCES invoices(id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX credit_notes_invoice_idx ON credit_notes (invoice_id);
SELECT app_enable_tenant_rls('credit_notes');

-- Finalized invoices are immutable: only the status moves on (finalized -> paid | void, paid -> void)
-- with its timestamp, plus metadata (e.g. sync bookkeeping). Lines of a non-draft invoice are frozen.
CREATE OR REPLACE FUNCTION invoices_guard_immutable() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'draft' THEN RETURN NEW; END IF;
  IF NOT (NEW.status = OLD.status
          OR (OLD.status = 'finalized' AND NEW.status IN ('paid', 'void'))
          OR (OLD.status = 'paid' AND NEW.status = 'void')) THEN
    RAISE EXCEPTION 'invoice % cannot go from % to %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.tenant_id, NEW.number, NEW.period_start, NEW.period_end, NEW.currency, NEW.plan_id, NEW.subtotal_micros,
      NEW.tax_micros, NEW.total_micros, NEW.finalized_at, NEW.due_at)
     IS DISTINCT FROM
     (OLD.tenant_id, OLD.number, OLD.period_start, OLD.period_end, OLD.currency, OLD.plan_id, OLD.subtotal_micros,
      OLD.tax_micros, OLD.total_micros, OLD.finalized_at, OLD.due_at) THEN
    RAISE EXCEPTION 'invoice % is % and immutable; issue a credit note instead', OLD.id, OLD.status USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER invoices_immutable BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION invoices_guard_immutable();

CREATE OR REPLACE FUNCTION invoice_lines_guard_draft() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
  SELECT status INTO st FROM invoices WHERE id = COALESCE(NEW.invoice_id, OLD.invoice_id);
  -- st IS NULL: the invoice itself is being deleted (cascade).
  IF st IS NOT NULL AND st <> 'draft' THEN
    RAISE EXCEPTION 'lines of a % invoice cannot change', st USING ERRCODE = 'check_violation';
  END IF;
  RETURN COALESCE(NEW, OLD);
END $$;
CREATE TRIGGER invoice_lines_draft_only BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
  FOR EACH ROW EXECUTE FUNCTION invoice_lines_guard_draft();

-- object_type: customer | invoice | invoice_item | credit_note | ...; local_id is our id (text).
CREATE TABLE stripe_mappings (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  object_type text NOT NULL,
  local_id text NOT NULL,
  stripe_id text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, object_type, local_id)
);
SELECT app_enable_tenant_rls('stripe_mappings');
