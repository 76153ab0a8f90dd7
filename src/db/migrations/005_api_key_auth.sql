-- API-key lookup for authentication: the one cross-tenant read on the hot path. SECURITY DEFINER
-- with its own `app.platform = 'on'` (restored when the function returns, so it never leaks into
-- the caller's transaction), returning only live keys matching one hash. The app role gets
-- EXECUTE (src/db/migrate.ts); PUBLIC does not.
CREATE OR REPLACE FUNCTION auth_api_key(p_hash text)
  RETURNS TABLE (key_id uuid, tenant_id uuid, role text, tenant_status text, expires_at timestamptz)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public
  SET app.platform = 'on'
AS $$
  SELECT k.id, k.tenant_id, k.role, t.status, k.expires_at
  FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
  WHERE k.hash = p_hash AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
$$;
REVOKE ALL ON FUNCTION auth_api_key(text) FROM PUBLIC;
