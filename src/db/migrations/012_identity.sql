-- 012: JWT principals come from the database, not from the token's claims (issue 17.11).
-- A token names its user (`sub`) and the tenant it acts in (`tid`); the role is that user's
-- membership in the tenant, or `platform` when the user is on the platform-operator list.
-- Tokens are revocable by `jti`.
SELECT set_config('app.platform', 'on', true);

CREATE TABLE platform_operators (
  user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  added_by text,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE platform_operators ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_operators FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON platform_operators USING (app_is_platform()) WITH CHECK (app_is_platform());

-- A membership role is a tenant role: memberships that said `platform` become operators.
INSERT INTO platform_operators (user_id, added_by)
  SELECT DISTINCT user_id, 'migration:012' FROM memberships WHERE role = 'platform'
  ON CONFLICT DO NOTHING;
DELETE FROM memberships WHERE role = 'platform';
ALTER TABLE memberships DROP CONSTRAINT IF EXISTS memberships_role_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_role_check CHECK (role IN ('member', 'admin', 'finance'));

-- Revoked token ids. A token older than JWT_MAX_AGE_SECONDS is refused anyway, so rows past
-- that age only document what was revoked.
CREATE TABLE jwt_revocations (
  jti text PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 256),
  revoked_by text,
  reason text NOT NULL DEFAULT '',
  revoked_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE jwt_revocations ENABLE ROW LEVEL SECURITY;
ALTER TABLE jwt_revocations FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON jwt_revocations USING (app_is_platform()) WITH CHECK (app_is_platform());

-- The JWT subject check: like auth_api_key, one narrow cross-tenant read with its own
-- app.platform, answering only about this user, this tenant and this token id.
CREATE FUNCTION auth_jwt_subject(p_user uuid, p_tenant uuid, p_jti text)
  RETURNS TABLE (operator boolean, role text, tenant_status text, revoked boolean)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public, pg_temp
  SET app.platform = 'on'
AS $$
  SELECT EXISTS (SELECT 1 FROM public.platform_operators o WHERE o.user_id = p_user),
         (SELECT m.role FROM public.memberships m WHERE m.user_id = p_user AND m.tenant_id = p_tenant),
         (SELECT t.status FROM public.tenants t WHERE t.id = p_tenant),
         p_jti IS NOT NULL AND EXISTS (SELECT 1 FROM public.jwt_revocations r WHERE r.jti = p_jti)
$$;
REVOKE ALL ON FUNCTION auth_jwt_subject(uuid, uuid, text) FROM PUBLIC;
