-- Plans, quotas, price book, tenant plan history, quota overrides.
-- Meters (shared with usage and billing): requests, items, compute_ms_cpu, compute_ms_cuda.

CREATE TABLE plans (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  code text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- Weight in weighted-fair admission: higher = more share. free 1 .. enterprise 4.
  priority_tier integer NOT NULL CHECK (priority_tier BETWEEN 1 AND 100),
  rate_limit_rps integer NOT NULL CHECK (rate_limit_rps > 0),
  burst integer NOT NULL CHECK (burst > 0),
  max_concurrency integer NOT NULL CHECK (max_concurrency > 0),
  currency char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Monthly quota per meter (the month starts on the tenant's billing_anchor_day). No row = unlimited.
-- hard: requests beyond limit_value are refused (402); soft: allowed, alerts at soft_thresholds (% of limit).
CREATE TABLE plan_quotas (
  plan_id uuid NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
  meter text NOT NULL CHECK (meter IN ('requests', 'items', 'compute_ms_cpu', 'compute_ms_cuda')),
  limit_value bigint NOT NULL CHECK (limit_value >= 0),
  hard boolean NOT NULL DEFAULT true,
  soft_thresholds integer[] NOT NULL DEFAULT '{80,100}',
  PRIMARY KEY (plan_id, meter)
);

-- Price book, effective-dated. Money in micro-units of `currency` (NUMERIC: unit prices may be fractional micros).
-- Billable quantity q = max(0, usage - included_quantity) over the period, then:
--   standard:  q * unit_price_micros
--   package:   ceil(q / package_size) * unit_price_micros          (unit_price_micros = price per package)
--   graduated: each tier prices the units that fall inside it, + its flat_fee_micros when any unit does
--   volume:    all q units at the tier q falls in, + that tier's flat_fee_micros
-- tiers: [{"up_to": <cumulative inclusive upper bound or null = infinity>, "unit_price_micros": n, "flat_fee_micros": n}], ascending.
CREATE TABLE price_components (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  plan_id uuid NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
  meter text NOT NULL CHECK (meter IN ('requests', 'items', 'compute_ms_cpu', 'compute_ms_cuda')),
  model text NOT NULL CHECK (model IN ('standard', 'graduated', 'volume', 'package')),
  unit_price_micros numeric(24, 6) CHECK (unit_price_micros >= 0),
  tiers jsonb,
  package_size bigint CHECK (package_size > 0),
  included_quantity bigint NOT NULL DEFAULT 0 CHECK (included_quantity >= 0),
  currency char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  effective_from timestamptz NOT NULL,
  effective_to timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (effective_to IS NULL OR effective_to > effective_from),
  CHECK (model <> 'standard' OR unit_price_micros IS NOT NULL),
  CHECK (model <> 'package' OR (unit_price_micros IS NOT NULL AND package_size IS NOT NULL)),
  CHECK (model NOT IN ('graduated', 'volume') OR (jsonb_typeof(tiers) = 'array' AND jsonb_array_length(tiers) > 0)),
  CONSTRAINT price_components_no_overlap EXCLUDE USING gist (
    plan_id WITH =, meter WITH =, tstzrange(effective_from, effective_to) WITH &&)
);

-- Plan history: a plan change closes the open row (effective_to) and opens a new one.
CREATE TABLE tenant_plans (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  plan_id uuid NOT NULL REFERENCES plans(id),
  effective_from timestamptz NOT NULL DEFAULT now(),
  effective_to timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (effective_to IS NULL OR effective_to > effective_from),
  CONSTRAINT tenant_plans_no_overlap EXCLUDE USING gist (
    tenant_id WITH =, tstzrange(effective_from, effective_to) WITH &&)
);
CREATE UNIQUE INDEX tenant_plans_open_uq ON tenant_plans (tenant_id) WHERE effective_to IS NULL;
SELECT app_enable_tenant_rls('tenant_plans');

-- Per-tenant (api_key_id NULL) or per-key overrides of a plan's quota (meter) or admission limits
-- ('rate' = rps, 'burst', 'concurrency'). hard NULL = keep the plan's hardness.
CREATE TABLE quota_overrides (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  api_key_id uuid,
  meter text NOT NULL CHECK (meter IN ('requests', 'items', 'compute_ms_cpu', 'compute_ms_cuda', 'rate', 'burst', 'concurrency')),
  limit_value bigint NOT NULL CHECK (limit_value >= 0),
  hard boolean,
  reason text NOT NULL DEFAULT '',
  created_by text,
  effective_from timestamptz NOT NULL DEFAULT now(),
  effective_to timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (effective_to IS NULL OR effective_to > effective_from),
  FOREIGN KEY (api_key_id, tenant_id) REFERENCES api_keys(id, tenant_id) ON DELETE CASCADE,
  CONSTRAINT quota_overrides_no_overlap EXCLUDE USING gist (
    tenant_id WITH =, (COALESCE(api_key_id, '00000000-0000-0000-0000-000000000000'::uuid)) WITH =, meter WITH =,
    tstzrange(effective_from, effective_to) WITH &&)
);
CREATE INDEX quota_overrides_tenant_idx ON quota_overrides (tenant_id, meter);
SELECT app_enable_tenant_rls('quota_overrides');

-- The catalog is readable by every tenant; only the platform edits it.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['plans', 'plan_quotas', 'price_components'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY catalog_read ON %I FOR SELECT USING (true)', t);
    EXECUTE format('CREATE POLICY catalog_platform_write ON %I FOR ALL USING (app_is_platform()) WITH CHECK (app_is_platform())', t);
  END LOOP;
END $$;
