-- Anomaly / Grafana alerts and tenant webhook endpoints.

CREATE TABLE alerts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- NULL: a platform-wide alert (e.g. a Grafana rule not tied to a tenant); visible to the platform only.
  tenant_id uuid REFERENCES tenants(id) ON DELETE CASCADE,
  kind text NOT NULL,
  metric text NOT NULL DEFAULT '',
  severity text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
  source text NOT NULL DEFAULT 'tollgate' CHECK (source IN ('tollgate', 'grafana')),
  dedup_key text NOT NULL,
  title text NOT NULL DEFAULT '',
  details jsonb NOT NULL DEFAULT '{}',
  opened_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  acknowledged_at timestamptz,
  acknowledged_by text,
  resolved_at timestamptz,
  CHECK (status <> 'resolved' OR resolved_at IS NOT NULL)
);
-- One live alert per (tenant, dedup_key): upsert with
--   ON CONFLICT (tenant_id, dedup_key) WHERE status <> 'resolved' DO UPDATE ...
CREATE UNIQUE INDEX alerts_live_dedup_uq ON alerts (tenant_id, dedup_key) NULLS NOT DISTINCT WHERE status <> 'resolved';
CREATE INDEX alerts_tenant_idx ON alerts (tenant_id, opened_at DESC);
SELECT app_enable_tenant_rls('alerts');

CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  url text NOT NULL CHECK (url ~ '^https?://'),
  -- HMAC signing secret (needed in clear to sign); shown to the tenant once on creation.
  secret text NOT NULL,
  events text[] NOT NULL DEFAULT '{}',
  active boolean NOT NULL DEFAULT true,
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id);
CREATE TRIGGER webhook_endpoints_updated_at BEFORE UPDATE ON webhook_endpoints FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();
SELECT app_enable_tenant_rls('webhook_endpoints');
