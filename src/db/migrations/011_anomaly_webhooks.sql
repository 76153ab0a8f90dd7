-- Anomaly detector state per series, and tenant webhook delivery (Standard Webhooks).

-- One row per scored series: (tenant, metric, model) where model '' is the whole tenant.
-- `scored_through` is the end of the last scored bucket (the next scan starts there); the
-- hysteresis state (alert open, length of the current run) survives between scans, so a
-- series scored in several passes opens and resolves exactly as if scored in one.
CREATE TABLE anomaly_series_state (
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  metric text NOT NULL CHECK (metric IN ('requests', 'error_ratio', 'latency_p95', 'spend', 'quota_burn')),
  model text NOT NULL DEFAULT '',
  bucket_seconds integer NOT NULL CHECK (bucket_seconds > 0),
  scored_through timestamptz NOT NULL,
  alert_open boolean NOT NULL DEFAULT false,
  run integer NOT NULL DEFAULT 0 CHECK (run >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, metric, model)
);
SELECT app_enable_tenant_rls('anomaly_series_state');

-- Secret rotation: the previous secret keeps signing (a second v1 signature) until it expires.
-- Disabling: by an admin, by a 410 answer, or after failing for days (reason says which).
ALTER TABLE webhook_endpoints
  ADD COLUMN previous_secret text,
  ADD COLUMN previous_secret_expires_at timestamptz,
  ADD COLUMN disabled_reason text,
  ADD COLUMN failing_since timestamptz;

-- One message to one endpoint; `message_id` is the webhook-id header (stable across retries),
-- unique per endpoint so an event enqueued twice is delivered once.
CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  endpoint_id uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  message_id text NOT NULL,
  event_type text NOT NULL,
  -- the exact body that is signed and sent (text, so retries send byte-identical bodies)
  body text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (endpoint_id, message_id)
);
CREATE INDEX webhook_deliveries_tenant_idx ON webhook_deliveries (tenant_id, created_at DESC);
CREATE TRIGGER webhook_deliveries_updated_at BEFORE UPDATE ON webhook_deliveries FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();
SELECT app_enable_tenant_rls('webhook_deliveries');

-- Every HTTP attempt of a delivery (the delivery log).
CREATE TABLE webhook_attempts (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  status_code integer,
  latency_ms integer,
  error text,
  UNIQUE (delivery_id, attempt)
);
SELECT app_enable_tenant_rls('webhook_attempts');
