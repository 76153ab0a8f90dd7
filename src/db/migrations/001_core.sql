-- Core: RLS helpers, tenants, users, memberships, API keys, audit log.
-- Row-level security: every tenant-owned table gets policy `tenant_isolation` from
-- app_enable_tenant_rls(): rows are visible/writable when tenant_id equals the transaction's
-- app.tenant_id, or when app.platform = 'on' (set only by withPlatform in src/db/tx.ts).

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- NULLIF: an unset custom setting reads as '' once any transaction in the session has set it.
CREATE OR REPLACE FUNCTION app_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE OR REPLACE FUNCTION app_is_platform() RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT COALESCE(current_setting('app.platform', true), '') = 'on' $$;

-- For migrations (any range): SELECT app_enable_tenant_rls('my_table'); the table needs a tenant_id uuid column.
-- FORCE: even a non-superuser table owner goes through the policy (superusers never do).
CREATE OR REPLACE FUNCTION app_enable_tenant_rls(tbl regclass) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
  EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_id = app_tenant_id() OR app_is_platform()) WITH CHECK (tenant_id = app_tenant_id() OR app_is_platform())', tbl);
END $$;
REVOKE ALL ON FUNCTION app_enable_tenant_rls(regclass) FROM PUBLIC;

CREATE OR REPLACE FUNCTION app_touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  display_name text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  timezone text NOT NULL DEFAULT 'UTC',
  billing_anchor_day smallint NOT NULL DEFAULT 1 CHECK (billing_anchor_day BETWEEN 1 AND 28),
  currency char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER tenants_updated_at BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();
-- A tenant sees only its own row.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = app_tenant_id() OR app_is_platform())
  WITH CHECK (id = app_tenant_id() OR app_is_platform());

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
  name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_uq ON users (email);

CREATE TABLE memberships (
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin', 'finance', 'platform')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);
SELECT app_enable_tenant_rls('memberships');

-- Users are global identities: a tenant sees the users that are its members; writes are platform-only.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_read ON users FOR SELECT
  USING (app_is_platform() OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.tenant_id = app_tenant_id()));
CREATE POLICY users_platform_write ON users FOR ALL
  USING (app_is_platform()) WITH CHECK (app_is_platform());

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL DEFAULT '',
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin', 'finance')),
  prefix text NOT NULL,
  -- sha256 hex of the whole secret; the secret itself is never stored.
  hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  expires_at timestamptz,
  UNIQUE (id, tenant_id)
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at);
SELECT app_enable_tenant_rls('api_keys');

-- Append-only (the app role has no UPDATE/DELETE on it, see src/db/migrate.ts). No FK to tenants: history outlives rows.
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  tenant_id uuid,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system', 'cli', 'platform')),
  actor_id text NOT NULL,
  action text NOT NULL,
  target_type text NOT NULL,
  target_id text,
  before jsonb,
  after jsonb,
  at timestamptz NOT NULL DEFAULT now(),
  request_id text
);
CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id);
-- Rows with tenant_id NULL (platform actions) are visible to the platform only.
SELECT app_enable_tenant_rls('audit_log');
